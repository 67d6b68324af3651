package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"petrel/store"
)

// Bench measures the same writes on any backend, for the numbers that
// compare them (BenchmarkBackend in the store and pgstore packages):
//
//   - Deliver: one 4 KiB message to one recipient per iteration, by 1 and
//     8 concurrent writers spread over 4 accounts (msgs/s);
//   - StoreFlags: one message's \Flagged set or cleared per iteration (a
//     change every time, so every one is a durable write and an event),
//     by 1 and 8 writers, each in its own account's INBOX of 100 messages
//     (ops/s).
//
// Each sub-benchmark gets a new store from f.New.
func Bench(b *testing.B, f Factory) {
	body := BenchMessage(4 << 10)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("Deliver/writers=%d", writers), func(b *testing.B) {
			s := f.New(b)
			accts := benchAccounts(b, s, 4)
			rate := parallel(b, writers, func(w, _ int) error {
				_, err := s.Deliver(bg, &store.Delivery{Body: body, Targets: []store.Target{{Account: accts[w%len(accts)]}}})
				return err
			})
			b.ReportMetric(rate, "msgs/s")
		})
	}
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("StoreFlags/writers=%d", writers), func(b *testing.B) {
			s := f.New(b)
			accts := benchAccounts(b, s, writers)
			boxes := make([]store.MailboxID, writers)
			items := make([]store.AppendItem, 100)
			for i := range items {
				items[i] = store.AppendItem{Body: body}
			}
			for w, a := range accts {
				m, err := s.MailboxByName(a, "INBOX")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.AppendMany(bg, m.ID, items); err != nil {
					b.Fatal(err)
				}
				boxes[w] = m.ID
			}
			rate := parallel(b, writers, func(w, i int) error {
				op := store.FlagsAdd
				if (i/len(items))%2 == 1 {
					op = store.FlagsRemove
				}
				_, err := s.StoreFlags(bg, boxes[w], []store.UID{store.UID(i%len(items) + 1)}, op, []string{store.FlagFlagged})
				return err
			})
			b.ReportMetric(rate, "ops/s")
		})
	}
}

// BenchMessage returns a message of about size bytes (a header and lines
// of x), for benchmarks.
func BenchMessage(size int) []byte {
	var m bytes.Buffer
	m.WriteString("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: benchmark\r\n\r\n")
	for m.Len() < size-76 {
		m.WriteString(string(bytes.Repeat([]byte("x"), 74)) + "\r\n")
	}
	return m.Bytes()
}

func benchAccounts(b *testing.B, s Backend, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		a, err := s.CreateAccount(bg, fmt.Sprintf("bench%d@example.org", i), "secret")
		if err != nil {
			b.Fatal(err)
		}
		out[i] = a.ID
	}
	return out
}

// parallel runs b.N calls of fn over writers goroutines (fn gets its
// writer's number and the writer's own count of calls so far) and returns
// the calls per second.
func parallel(b *testing.B, writers int, fn func(w, i int) error) float64 {
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := b.N
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				if err := fn(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	return float64(b.N) / time.Since(start).Seconds()
}
