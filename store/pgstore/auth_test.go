package pgstore_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/pgstore"
)

// A login storm on a PostgreSQL node is bounded as on bbolt: with 2
// workers and a queue of 6, 32 wrong logins at once (unknown users too)
// check at least 8 passwords and shed the rest with store.ErrBusy, each
// told to OnAuthBusy; a right password remembered answers while busy.
func TestLoginStormBoundsHashing(t *testing.T) {
	var shed atomic.Int32
	s, err := pgstore.Open(context.Background(), pgtest.DSN(t), pgstore.Options{Logger: slog.New(slog.DiscardHandler),
		HashWorkers: 2, HashQueue: 6, OnAuthBusy: func() { shed.Add(1) }})
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
	const storm = 32
	var wg sync.WaitGroup
	errs := make(chan error, storm+1)
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
	wg.Go(func() {
		_, err := s.Authenticate("bob@example.org", "right horse battery")
		if err != nil {
			t.Errorf("remembered right password during the storm: %v", err)
		}
	})
	wg.Wait()
	close(errs)
	var failed, busy int
	for err := range errs {
		switch {
		case errors.Is(err, store.ErrAuthFailed):
			failed++
		case errors.Is(err, store.ErrBusy):
			busy++
		default:
			t.Errorf("a wrong login got %v, want ErrAuthFailed or ErrBusy", err)
		}
	}
	t.Logf("%d logins at once: %d checked, %d refused busy", storm, failed, busy)
	if busy == 0 || int(shed.Load()) != busy {
		t.Errorf("%d shed with ErrBusy, %d told to OnAuthBusy: want some, and the same", busy, shed.Load())
	}
	if failed < 8 {
		t.Errorf("only %d logins were checked; the 2 workers and queue of 6 take at least 8", failed)
	}
}
