package store_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"petrel/store"
)

// benchAccounts is how many recipients the writers spread their deliveries
// over (writer i delivers to account i mod benchAccounts). Accounts cost an
// argon2 hash each, so there are few of them.
const benchAccounts = 4

// benchMessage returns a message of exactly size bytes: a header and a body
// of 76-character CRLF lines.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: benchmark\r\n" +
		"Message-ID: <bench@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n")
	line := bytes.Repeat([]byte("x"), 74)
	for b.Len() < size {
		b.Write(line)
		b.WriteString("\r\n")
	}
	msg := b.Bytes()[:size-2]
	return append(msg, '\r', '\n')
}

// BenchmarkDeliver measures durable delivery into the store: each iteration
// is one Store.Deliver (one 4 KiB message, one recipient) that returns only
// once fsynced. Writers deliver concurrently, with the committer grouping the
// writes queued during a commit into one transaction ("group") or giving each
// write its own transaction and fsync ("single", Options.NoGroupCommit).
//
// Besides ns/op (wall time divided by messages) it reports msgs/s and
// writes/commit, the mean number of writes per bbolt transaction.
func BenchmarkDeliver(b *testing.B) {
	msg := benchMessage(4 << 10)
	for _, mode := range []struct {
		name          string
		noGroupCommit bool
	}{{"group", false}, {"single", true}} {
		for _, writers := range []int{1, 8, 50} {
			b.Run(fmt.Sprintf("commit=%s/writers=%d", mode.name, writers), func(b *testing.B) {
				benchDeliver(b, msg, writers, mode.noGroupCommit)
			})
		}
	}
}

func benchDeliver(b *testing.B, msg []byte, writers int, noGroupCommit bool) {
	var commits, writes atomic.Int64
	path := filepath.Join(b.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{
		NoGroupCommit: noGroupCommit,
		OnCommit: func(_ time.Duration, n int) {
			commits.Add(1)
			writes.Add(int64(n))
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var accts [benchAccounts]uint64
	for i := range accts {
		a, err := s.CreateAccount(ctx, fmt.Sprintf("bench%d@example.com", i), "secret")
		if err != nil {
			b.Fatal(err)
		}
		accts[i] = a.ID
	}
	commits.Store(0)
	writes.Store(0)

	// Writers take message numbers from a shared counter until b.N are
	// taken, so the total is b.N whatever the number of writers.
	var next atomic.Int64
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &store.Delivery{Body: msg, Targets: []store.Target{{Account: accts[w%benchAccounts]}}}
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Deliver(ctx, d); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if c := commits.Load(); c > 0 {
		b.ReportMetric(float64(writes.Load())/float64(c), "writes/commit")
	}
}

// BenchmarkStoreFlags: writers, each on its own account's INBOX of 300
// messages, toggling \Flagged one message at a time, as IMAP clients
// staying logged in do (bench/run.sh imap-steady). Reports the mean commit
// time and the writes per commit.
func BenchmarkStoreFlags(b *testing.B) {
	for _, writers := range []int{1, 10} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			var commits, writes, commitNS atomic.Int64
			path := filepath.Join(b.TempDir(), "mail.db")
			s, err := store.Open(path, store.Options{CheapPasswordHash: true, OnCommit: func(d time.Duration, n int) {
				commits.Add(1)
				writes.Add(int64(n))
				commitNS.Add(int64(d))
			}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			boxes := make([]store.MailboxID, writers)
			for w := range writers {
				a, err := s.CreateAccount(ctx, fmt.Sprintf("bench%d@example.com", w), "secret")
				if err != nil {
					b.Fatal(err)
				}
				for range 300 {
					if _, err := s.Deliver(ctx, &store.Delivery{Body: benchMessage(2 << 10), Targets: []store.Target{{Account: a.ID}}}); err != nil {
						b.Fatal(err)
					}
				}
				in, err := s.MailboxByName(a.ID, "INBOX")
				if err != nil {
					b.Fatal(err)
				}
				boxes[w] = in.ID
			}
			commits.Store(0)
			writes.Store(0)
			commitNS.Store(0)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						op := store.FlagsAdd
						if i%2 == 0 {
							op = store.FlagsRemove
						}
						if _, err := s.StoreFlags(ctx, boxes[w], []store.UID{store.UID(1 + i%300)}, op, []string{store.FlagFlagged}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "CPU-µs/op")
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(writes.Load())/float64(c), "writes/commit")
				b.ReportMetric(float64(commitNS.Load())/float64(c)/1e6, "ms/commit")
			}
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
