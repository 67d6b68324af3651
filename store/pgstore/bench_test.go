package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/pgstore"
	"petrel/store/storetest"
)

// durable starts a PostgreSQL server with fsync on, as production runs it,
// for the length of one benchmark.
func durable(b *testing.B) *pgtest.Server {
	pgtest.Shared(b) // skips where PostgreSQL is missing
	srv, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Stop() })
	return srv
}

// BenchmarkDeliver measures durable delivery (fsync on) of one 4 KiB
// message to one recipient per iteration, by concurrent writers, as the
// store package's BenchmarkDeliver does for bbolt: compare its
// commit=group results.
func BenchmarkDeliver(b *testing.B) {
	srv := durable(b)
	msg := storetest.BenchMessage(4 << 10)
	for _, writers := range []int{1, 8, 50} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := pgstore.Open(context.Background(), srv.DSN(b), pgstore.Options{CheapPasswordHash: true, MaxConns: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var accts []uint64
			for i := range 4 {
				a, err := s.CreateAccount(context.Background(), fmt.Sprintf("u%d@example.org", i), "x")
				if err != nil {
					b.Fatal(err)
				}
				accts = append(accts, a.ID)
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var next sync.Mutex
			left := b.N
			for w := range writers {
				wg.Go(func() {
					for {
						next.Lock()
						if left == 0 {
							next.Unlock()
							return
						}
						left--
						next.Unlock()
						_, err := s.Deliver(context.Background(), &store.Delivery{Body: msg, Targets: []store.Target{{Account: accts[w%len(accts)]}}})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkBackend: the writes storetest.Bench measures on every backend,
// here on PostgreSQL with fsync on (compare the store package's
// BenchmarkBackend, bbolt).
func BenchmarkBackend(b *testing.B) {
	srv := durable(b)
	storetest.Bench(b, storetest.Factory{New: func(t testing.TB) storetest.Backend {
		s, err := pgstore.Open(context.Background(), srv.DSN(t), pgstore.Options{CheapPasswordHash: true, MaxConns: 64, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}})
}

// BenchmarkWatchLatency measures how long a delivery made through one node
// takes to reach a watcher on another (LISTEN/NOTIFY, then the changes
// row): p50 and p99 over b.N deliveries.
func BenchmarkWatchLatency(b *testing.B) {
	srv := durable(b)
	dsn := srv.DSN(b)
	ctx := context.Background()
	nodeA, err := pgstore.Open(ctx, dsn, pgstore.Options{CheapPasswordHash: true})
	if err != nil {
		b.Fatal(err)
	}
	defer nodeA.Close()
	nodeB, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer nodeB.Close()
	a, err := nodeA.CreateAccount(ctx, "bob@example.org", "x")
	if err != nil {
		b.Fatal(err)
	}
	in, _ := nodeA.MailboxByName(a.ID, "INBOX")
	seen := make(chan time.Time, 1)
	_, stop, err := nodeB.Watch(in.ID, func(store.Event) { seen <- time.Now() })
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	msg := storetest.BenchMessage(4 << 10)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		d, err := nodeA.Deliver(ctx, &store.Delivery{Body: msg, Targets: []store.Target{{Account: a.ID}}})
		done := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-seen:
			lat = append(lat, max(at.Sub(done), 0))
		case <-time.After(10 * time.Second):
			b.Fatalf("delivery %v not seen on the other node", d)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkReadRange reads 4 KiB from the middle of a 20 MiB message, and
// the whole message: a range costs what its chunks cost, not the message.
func BenchmarkReadRange(b *testing.B) {
	srv := durable(b)
	s, err := pgstore.Open(context.Background(), srv.DSN(b), pgstore.Options{CheapPasswordHash: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateAccount(context.Background(), "bob@example.org", "x")
	if err != nil {
		b.Fatal(err)
	}
	big := storetest.BenchMessage(20 << 20)
	d, err := s.Deliver(context.Background(), &store.Delivery{Body: big, Targets: []store.Target{{Account: a.ID}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		off, n int64
	}{{"4KiB", 10 << 20, 4 << 10}, {"whole", 0, int64(len(big))}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				got, err := s.ReadRange(d[0].Mailbox, d[0].UID, tc.off, tc.n)
				if err != nil || int64(len(got)) != tc.n {
					b.Fatalf("%d bytes, %v", len(got), err)
				}
			}
			b.SetBytes(tc.n)
		})
	}
}

// BenchmarkQuotaLargeAccount measures, with fsync on, the writes and reads
// that need an account's quota usage on an account that holds 131,072
// messages: AppendWithinQuota of one 4 KiB message (IMAP APPEND, its check
// inside the transaction) and Quota (IMAP GETQUOTA, SMTP's RCPT check).
// Their cost must not grow with the account's messages. The messages are
// copies of one delivery, made by one INSERT (as a COPY makes them, without
// the COPY's cost of naming 131,072 UIDs), so the set-up takes seconds.
func BenchmarkQuotaLargeAccount(b *testing.B) {
	const messages = 1 << 17
	srv := durable(b)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, srv.DSN(b), pgstore.Options{CheapPasswordHash: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a, err := s.CreateAccount(ctx, "bob@example.org", "x")
	if err != nil {
		b.Fatal(err)
	}
	msg := storetest.BenchMessage(4 << 10)
	d, err := s.Deliver(ctx, &store.Delivery{Body: msg, Targets: []store.Target{{Account: a.ID}}})
	if err != nil {
		b.Fatal(err)
	}
	in := d[0].Mailbox
	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO messages (mailbox, uid, blob, prefix, flags, date_ns, size, modseq)
			SELECT m.mailbox, m.uid + g, m.blob, m.prefix, m.flags, m.date_ns, m.size, m.modseq
			FROM messages m, generate_series(1, $2::bigint - 1) g WHERE m.mailbox = $1 AND m.uid = 1`, int64(in), messages); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE mailboxes SET uidnext = uidnext + $2 - 1, messages = $2, size = size * $2 WHERE id = $1", int64(in), messages)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetQuota(ctx, "bob@example.org", 1<<40, 1<<30); err != nil {
		b.Fatal(err)
	}
	if q, err := s.Quota(a.ID); err != nil || q.Messages != messages {
		b.Fatalf("Quota = %+v, %v; want %d messages", q, err, messages)
	}
	b.Run("append", func(b *testing.B) {
		for range b.N {
			if _, err := s.AppendWithinQuota(ctx, in, []store.AppendItem{{Body: msg}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("getquota", func(b *testing.B) {
		for range b.N {
			if _, err := s.Quota(a.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
