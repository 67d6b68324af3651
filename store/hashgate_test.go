package store

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"petrel/internal/testenv"
)

// A login storm (unknown users and wrong passwords) must not run argon2id
// (19 MiB a check) without bound: with 2 workers and a queue of 6, 32
// logins at once cost a few checks' memory, and those beyond the queue are
// refused at once with ErrBusy. Memory is measured from the process (peak
// RSS); unbounded, the storm peaks at about 32 × 19 MiB = 608 MiB.
func TestLoginStormBoundsHashing(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "mail.db"), Options{HashWorkers: 2, HashQueue: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAccount(t.Context(), "bob@example.org", "right horse battery"); err != nil {
		t.Fatal(err)
	}
	const storm = 32
	testenv.ResetPeakRSS(t, 0)
	before := testenv.RSS(t, 0)
	var wg sync.WaitGroup
	errs := make(chan error, storm)
	start := make(chan struct{})
	for i := range storm {
		wg.Go(func() {
			<-start
			user := "bob@example.org"
			if i%2 == 0 {
				user = "nobody@example.org"
			}
			_, err := s.Authenticate(user, "wrong")
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	counts := map[error]int{}
	for err := range errs {
		switch {
		case errors.Is(err, ErrAuthFailed):
			counts[ErrAuthFailed]++
		case errors.Is(err, ErrBusy):
			counts[ErrBusy]++
		default:
			t.Errorf("a wrong login got %v, want ErrAuthFailed or ErrBusy", err)
		}
	}
	grew := testenv.PeakRSS(t, 0) - before
	t.Logf("%d logins at once: %d checked, %d refused busy; peak RSS +%d MiB", storm, counts[ErrAuthFailed], counts[ErrBusy], grew>>20)
	if counts[ErrBusy] == 0 {
		t.Error("no login was shed with ErrBusy: the hashing queue is not bounded")
	}
	if counts[ErrAuthFailed] < 8 {
		t.Errorf("only %d logins were checked; the 2 workers and queue of 6 take at least 8", counts[ErrAuthFailed])
	}
	if limit := int64(250 << 20); grew > limit {
		t.Errorf("peak RSS grew by %d MiB during the storm, want under %d MiB", grew>>20, limit>>20)
	}
}

// The good-login cache answers without a turn of the pool: a client that
// logged in a minute ago logs in again while the pool is full.
func TestCachedLoginWhileBusy(t *testing.T) {
	var shed atomic.Int32
	s, err := Open(filepath.Join(t.TempDir(), "mail.db"), Options{HashWorkers: 1, HashQueue: -1, OnAuthBusy: func() { shed.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAccount(t.Context(), "bob@example.org", "right horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("bob@example.org", "right horse battery"); err != nil {
		t.Fatal(err)
	}
	hold, held := make(chan struct{}), make(chan struct{})
	go s.hash.do(func() { close(held); <-hold })
	<-held
	defer close(hold)
	tests := []struct {
		user, pw string
		want     error
	}{
		{"bob@example.org", "right horse battery", nil},
		{"bob@example.org", "wrong", ErrBusy},
		{"nobody@example.org", "wrong", ErrBusy},
	}
	for _, tt := range tests {
		if _, err := s.Authenticate(tt.user, tt.pw); !errors.Is(err, tt.want) {
			t.Errorf("Authenticate(%s, %s) with the pool full: %v, want %v", tt.user, tt.pw, err, tt.want)
		}
	}
	if n := shed.Load(); n != 2 {
		t.Errorf("OnAuthBusy called %d times, want 2", n)
	}
}
