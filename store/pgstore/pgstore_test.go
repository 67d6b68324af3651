package pgstore_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/pgstore"
	"petrel/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{CheapPasswordHash: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dsns remembers each test store's database, for its peers.
type dsns map[storetest.Backend]string

// The PostgreSQL store keeps the same contract as bbolt, with peers as
// other nodes on the same database.
func TestConformance(t *testing.T) {
	where := dsns{}
	storetest.Run(t, storetest.Factory{
		New: func(t testing.TB) storetest.Backend {
			dsn := pgtest.DSN(t)
			verifyUsage(t, dsn)
			s := open(t, dsn)
			where[s] = dsn
			return s
		},
		Peer: func(t testing.TB, b storetest.Backend) storetest.Backend {
			return open(t, where[b])
		},
		Reopen: func(t testing.TB, b storetest.Backend) storetest.Backend {
			b.Close()
			s := open(t, where[b])
			where[s] = where[b]
			return s
		},
		NewJunk: func(t testing.TB, o storetest.JunkOptions) storetest.Backend {
			s, err := pgstore.Open(context.Background(), pgtest.DSN(t), pgstore.Options{CheapPasswordHash: true, Logger: slog.New(slog.DiscardHandler),
				JunkTokens: o.Tokens, JunkShared: o.Shared, JunkMaxTokens: o.MaxTokens})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}

// verifyUsage checks, when t ends (after its stores are closed), that
// every account's quota usage counters are the sums of its messages,
// whatever the test wrote (the bbolt store's storetest.Open checks the
// same).
func verifyUsage(t testing.TB, dsn string) {
	t.Cleanup(func() {
		s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Errorf("open to verify quota usage: %v", err)
			return
		}
		defer s.Close()
		if err := s.VerifyUsage(); err != nil {
			t.Errorf("quota usage: %v", err)
		}
	})
}

// After the mixed writers of the conformance suite, no blob is left
// without a message, and no message is without its blob.
func TestNoOrphanBlobs(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Run(t, storetest.Factory{
		New:  func(t testing.TB) storetest.Backend { return open(t, dsn) },
		Peer: func(t testing.TB, b storetest.Backend) storetest.Backend { return open(t, dsn) },
		Reopen: func(t testing.TB, b storetest.Backend) storetest.Backend {
			b.Close()
			return open(t, dsn)
		},
	}, "MixedWriters")
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var orphans, blobs int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = b.id)), count(*) FROM blobs b").Scan(&orphans, &blobs); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || blobs == 0 {
		t.Fatalf("%d of %d blobs have no message", orphans, blobs)
	}
}

// Two nodes expunging, at the same moment, the last two copies of the same
// messages leave no blob behind.
func TestLastReferencesRemovedAtOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	bob, err := a.CreateAccount(ctx, "bob@example.org", "x")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	in, _ := a.MailboxByName(bob.ID, "INBOX")
	arch, _ := a.MailboxByName(bob.ID, "Archive")
	for round := range 10 {
		for i := range 20 {
			if _, err := a.Deliver(ctx, &store.Delivery{Body: []byte("Subject: x\r\n\r\nx\r\n"), Targets: []store.Target{
				{Account: bob.ID}, {Account: bob.ID, Mailbox: "Archive"}}}); err != nil {
				t.Fatalf("deliver %d: %v", i, err)
			}
		}
		// Both expunges are held at their first statement on blobs, after
		// deleting their messages, until both are there: then they go on
		// together, each before the other has committed.
		admin, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "LOCK TABLE blobs IN EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, job := range []struct {
			s   *pgstore.Store
			mbx store.MailboxID
		}{{a, in.ID}, {b, arch.ID}} {
			wg.Go(func() {
				if _, err := job.s.Expunge(ctx, job.mbx, nil); err != nil {
					t.Error(err)
				}
			})
		}
		waitLockWaiters(t, dsn, 2)
		if err := admin.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		var blobs int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM blobs").Scan(&blobs); err != nil {
			t.Fatal(err)
		}
		if blobs != 0 {
			t.Fatalf("round %d: %d blobs left after every message was expunged", round, blobs)
		}
	}
}

// waitLockWaiters waits until n backends of the database wait for a lock.
func waitLockWaiters(t *testing.T, dsn string, n int) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d backends waiting for a lock", waiting, n)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's own view of its lock queue
	}
}

// holdMailbox locks mailbox mbx's row in a transaction of its own
// connection, as a writer on another node would, and returns the
// transaction: the caller ends it (it is rolled back, and its connection
// closed, when the test ends otherwise).
func holdMailbox(t *testing.T, dsn string, mbx store.MailboxID) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, "SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE", int64(mbx)); err != nil {
		t.Fatal(err)
	}
	return tx
}

// A delivery whose folder is deleted between finding it and writing to it
// goes to INBOX, as it would had the folder been gone from the start.
func TestDeliverFolderDeletedMeanwhile(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	bob, err := s.CreateAccount(ctx, "bob@example.org", "x")
	if err != nil {
		t.Fatal(err)
	}
	folder, err := s.CreateMailbox(ctx, bob.ID, "Lists", "")
	if err != nil {
		t.Fatal(err)
	}
	admin := holdMailbox(t, dsn, folder.ID)
	type result struct {
		d   []store.Delivered
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := s.Deliver(ctx, &store.Delivery{Body: []byte("Subject: x\r\n\r\nx\r\n"), Targets: []store.Target{{Account: bob.ID, Mailbox: "Lists"}}})
		done <- result{d, err}
	}()
	waitLockWaiters(t, dsn, 1) // the delivery waits for the folder's row
	if _, err := admin.Exec(ctx, "DELETE FROM mailboxes WHERE id = $1", int64(folder.ID)); err != nil {
		t.Fatal(err)
	}
	if err := admin.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	in, _ := s.MailboxByName(bob.ID, "INBOX")
	if r.err != nil || r.d[0].Mailbox != in.ID {
		t.Fatalf("delivery = %+v, %v; want INBOX %d", r.d, r.err, in.ID)
	}
}
