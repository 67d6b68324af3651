package store_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

// Writers racing Close: every call returns, with nil (and then the message
// is on disk) or ErrClosed (and then it is not); no write is left waiting on
// a committer that has gone.
func TestCloseRacingWriters(t *testing.T) {
	const rounds, writers = 20, 50
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "mail.db")
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a := storetest.Account(t, s, "bob@example.com")
		var (
			mu        sync.Mutex
			committed int
			wg        sync.WaitGroup
			start     = make(chan struct{})
		)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Deliver until the store says it is closed: some calls
				// start before Close, some during it, some after.
				for {
					_, err := s.Deliver(ctx, &store.Delivery{Body: []byte("x\r\n"), Targets: []store.Target{{Account: a.ID}}})
					if errors.Is(err, store.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("deliver: %v", err)
						return
					}
					mu.Lock()
					committed++
					mu.Unlock()
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: writers still waiting 10s after Close returned", round)
		}
		// Calls after Close fail at once.
		if _, err := s.Deliver(ctx, &store.Delivery{Body: []byte("x\r\n"), Targets: []store.Target{{Account: a.ID}}}); !errors.Is(err, store.ErrClosed) {
			t.Errorf("deliver after close: %v, want ErrClosed", err)
		}
		// Every write that returned nil is durable, and no other is.
		s, err = store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := storetest.Inbox(t, s, a)
		if in.Messages != uint32(committed) {
			t.Errorf("round %d: %d messages in the store, %d deliveries returned nil", round, in.Messages, committed)
		}
		s.Close()
		storetest.Check(t, path)
	}
}
