package pgstore_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"petrel/internal/pgtest"
	"petrel/store"
)

// PostgreSQL crashes (immediate shutdown) and comes back while writers
// deliver on one node and a watcher listens on another: writers get errors
// meanwhile, every delivery that returned nil is in the mailbox, the nodes
// recover by themselves, and the watcher ends with every message, each
// once.
func TestDatabaseCrash(t *testing.T) {
	pgtest.Shared(t) // skips (fails under CI) where PostgreSQL is missing
	srv, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	dsn := srv.DSN(t)
	ctx := context.Background()
	a, b := open(t, dsn), open(t, dsn)
	acct, err := a.CreateAccount(ctx, "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := a.MailboxByName(acct.ID, "INBOX")
	var mu sync.Mutex
	watched := map[store.UID]int{}
	var lastModSeq atomic.Uint64
	progress := make(chan struct{}, 1)
	_, stop, err := b.Watch(in.ID, func(ev store.Event) {
		mu.Lock()
		for _, m := range ev.Messages {
			if ev.Kind == store.EventAdded {
				watched[m.UID]++
			}
		}
		mu.Unlock()
		lastModSeq.Store(ev.ModSeq)
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	var acked []store.UID
	var failures atomic.Int64
	ackedN := make(chan int, 1000)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				d, err := a.Deliver(dctx, &store.Delivery{Body: []byte("Subject: crash\r\n\r\nbody\r\n"), Targets: []store.Target{{Account: acct.ID}}})
				cancel()
				if err != nil {
					failures.Add(1)
					time.Sleep(20 * time.Millisecond) // a client's retry pause
					continue
				}
				mu.Lock()
				acked = append(acked, d[0].UID)
				n := len(acked)
				mu.Unlock()
				select {
				case ackedN <- n:
				default:
				}
			}
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case got := <-ackedN:
				if got >= n {
					return
				}
			case <-deadline:
				t.Fatalf("fewer than %d deliveries acknowledged (failures %d)", n, failures.Load())
			}
		}
	}
	waitAcked(20)
	srv.Crash()
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitAcked(before + 20)
	close(quit)
	wg.Wait()
	if failures.Load() == 0 {
		t.Log("no delivery failed across the crash (all retried in time)")
	}

	list, err := a.List(in.ID)
	if err != nil {
		t.Fatal(err)
	}
	have := map[store.UID]bool{}
	for _, m := range list {
		have[m.UID] = true
	}
	for _, u := range acked {
		if !have[u] {
			t.Fatalf("acknowledged delivery UID %d lost in the crash", u)
		}
	}
	m, _ := a.MailboxByID(in.ID)
	if int(m.Messages) != len(list) {
		t.Fatalf("mailbox counts %d messages, holds %d", m.Messages, len(list))
	}
	deadline := time.After(30 * time.Second)
	for lastModSeq.Load() < m.ModSeq {
		select {
		case <-progress:
		case <-deadline:
			t.Fatalf("watcher on the other node stuck at MODSEQ %d of %d", lastModSeq.Load(), m.ModSeq)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	uids := slices.Collect(func(yield func(store.UID) bool) {
		for u := range watched {
			if !yield(u) {
				return
			}
		}
	})
	if len(uids) != len(list) {
		t.Fatalf("watcher saw %d messages, the mailbox has %d", len(uids), len(list))
	}
	for u, n := range watched {
		if n != 1 || !have[u] {
			t.Fatalf("watcher saw UID %d %d times (in mailbox: %v)", u, n, have[u])
		}
	}
	t.Logf("%d acknowledged, %d failed attempts during the crash, %d in the mailbox", len(acked), failures.Load(), len(list))
}
