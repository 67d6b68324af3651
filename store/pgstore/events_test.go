package pgstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/pgstore"
)

// A watcher whose LISTEN connection is cut catches up, from the last
// MODSEQ it saw, with the changes committed while it was away: each once,
// in order.
func TestWatchCatchesUpAfterReconnect(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	acct, err := a.CreateAccount(ctx, "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := a.MailboxByName(acct.ID, "INBOX")
	var mu sync.Mutex
	var got []store.Event
	wake := make(chan struct{}, 1)
	_, stop, err := b.Watch(in.ID, func(ev store.Event) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// Cut every LISTENing connection (b's, and a's own), then write.
	var cut int
	if err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'").Scan(&cut); err != nil || cut < 2 {
		t.Fatalf("terminated %d listeners, %v", cut, err)
	}
	const n = 5
	for i := range n {
		if _, err := a.Deliver(ctx, &store.Delivery{Body: []byte("Subject: x\r\n\r\nx\r\n"), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
			t.Fatalf("deliver %d: %v", i, err)
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		evs := append([]store.Event(nil), got...)
		mu.Unlock()
		if len(evs) >= n {
			if len(evs) != n {
				t.Fatalf("%d events for %d deliveries", len(evs), n)
			}
			for i, ev := range evs {
				if ev.Kind != store.EventAdded || ev.Messages[0].UID != store.UID(i+1) {
					t.Fatalf("event %d = %+v", i, ev)
				}
			}
			break
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("after a reconnect: %d of %d events", len(evs), n)
		}
	}
	// Nothing more comes (no event twice): a last change is the next one.
	ms, err := a.StoreFlags(ctx, in.ID, []store.UID{1}, store.FlagsAdd, []string{store.FlagSeen})
	if err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		evs := append([]store.Event(nil), got...)
		mu.Unlock()
		if len(evs) > n {
			if len(evs) != n+1 || evs[n].ModSeq != ms[0].ModSeq {
				t.Fatalf("after the catch-up: %+v", evs[n:])
			}
			return
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatal("flag change not seen")
		}
	}
}

// A change committed by a node that died before it could notify (here: a
// change row and the mailbox's MODSEQ written by hand, with no
// notification) reaches the watchers of the other nodes by their poll,
// within a few PollIntervals.
func TestWatchFindsChangeWithoutNotification(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	b := open(t, dsn)
	acct, err := b.CreateAccount(ctx, "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := b.MailboxByName(acct.ID, "INBOX")
	got := make(chan store.Event, 10)
	_, stop, err := b.Watch(in.ID, func(ev store.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	modseq := in.ModSeq + 1
	err = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE mailboxes SET modseq = $2 WHERE id = $1", int64(in.ID), int64(modseq)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO changes (mailbox, modseq, kind, payload) VALUES ($1, $2, $3, '{"u":[7]}')`,
			int64(in.ID), int64(modseq), int16(store.EventExpunged))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.ModSeq != modseq || ev.Kind != store.EventExpunged || len(ev.UIDs) != 1 || ev.UIDs[0] != 7 {
			t.Fatalf("event %+v, want the expunge of UID 7 at MODSEQ %d", ev, modseq)
		}
	case <-time.After(5 * pgstore.PollInterval):
		t.Fatalf("no event %v after a change that was not notified", 5*pgstore.PollInterval)
	}
}
