package imap_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"petrel/store"
)

// benchMessages is the size of the big mailbox: PETREL_BENCH_MESSAGES,
// default 100,000.
func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("PETREL_BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// fillInbox delivers n small messages, one in a hundred containing the
// word "kumquat", from 32 goroutines so the store batches commits.
func fillInbox(tb testing.TB, e *env, n int) {
	tb.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				word := "apple"
				if i%100 == 0 {
					word = "kumquat"
				}
				body := fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: user@example.org\r\nSubject: Message number %d\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message %d about an %s.\r\nIt has a couple of lines of text.\r\n", i%97, i%97, i, i, i, word)
				_, err := e.st.Deliver(context.Background(), &store.Delivery{Body: []byte(body), Targets: []store.Target{{Account: e.acct.ID}}})
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		tb.Fatal(err)
	}
}

// peakHeap samples HeapInuse while f runs.
func peakHeap(f func()) (peak uint64) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var ms runtime.MemStats
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak {
				peak = m.HeapInuse
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	runtime.ReadMemStats(&ms)
	return max(peak, ms.HeapInuse)
}

// drain reads every message of a FETCH's responses, item by item, and
// returns how many there were.
func drain(cmd *imapclient.FetchCommand) (int, error) {
	k := 0
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		for m.Next() != nil {
		}
		k++
	}
	return k, cmd.Close()
}

// BenchmarkBigMailbox times SELECT, UID FETCH 1:* (UID FLAGS),
// FETCH 1:* (ENVELOPE) and SEARCH BODY on one big INBOX, and reports the
// peak heap of the process (server and client) during each.
//
//	go test -run XXX -bench BigMailbox -benchtime 3x ./imap/
func BenchmarkBigMailbox(b *testing.B) {
	n := benchMessages()
	e := newEnv(b)
	start := time.Now()
	fillInbox(b, e, n)
	b.Logf("delivered %d messages in %v", n, time.Since(start))
	c := e.client(b, nil)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	b.Logf("heap in use after filling: %d KiB", base.HeapInuse>>10)

	report := func(b *testing.B, peak uint64) {
		b.ReportMetric(float64(peak>>20), "peak-heap-MiB")
	}
	b.Run("SELECT", func(b *testing.B) {
		var peak uint64
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				d := mustSelect(b, c, "INBOX")
				if d.NumMessages != uint32(n) {
					b.Fatalf("EXISTS %d", d.NumMessages)
				}
			}))
			// Unselect so that the next SELECT loads the mailbox again.
			if err := c.Unselect().Wait(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, peak)
	})
	mustSelect(b, c, "INBOX")
	b.Run("UID_FETCH_1:*_UID_FLAGS", func(b *testing.B) {
		var peak uint64
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true})
				k := 0
				for cmd.Next() != nil {
					k++
				}
				if err := cmd.Close(); err != nil || k != n {
					b.Fatalf("fetched %d: %v", k, err)
				}
			}))
		}
		report(b, peak)
	})
	b.Run("FETCH_1:*_ENVELOPE", func(b *testing.B) {
		var peak uint64
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true})
				if k, err := drain(cmd); err != nil || k != n {
					b.Fatalf("fetched %d: %v", k, err)
				}
			}))
		}
		report(b, peak)
	})
	b.Run("FETCH_1:*_BODY.PEEK[HEADER.FIELDS_(FROM_SUBJECT)]", func(b *testing.B) {
		var peak uint64
		section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "Subject"}, Peek: true}
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}})
				if k, err := drain(cmd); err != nil || k != n {
					b.Fatalf("fetched %d: %v", k, err)
				}
			}))
		}
		report(b, peak)
	})
	b.Run("SEARCH_FROM", func(b *testing.B) {
		want := 0
		for i := 0; i < n; i++ {
			if i%97 == 5 {
				want++
			}
		}
		var peak uint64
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				d, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "S5@example"}}}, nil).Wait()
				if err != nil || len(d.AllUIDs()) != want {
					b.Fatalf("search: %v %v, want %d", len(d.AllUIDs()), err, want)
				}
			}))
		}
		report(b, peak)
	})
	b.Run("1000_UID_FETCH_BODY.PEEK[]", func(b *testing.B) {
		var peak uint64
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				for k := 0; k < 1000; k++ {
					uid := imap.UID(1 + (k*7919)%n)
					msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
					if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) != 1 {
						b.Fatalf("fetch %d: %v", uid, err)
					}
				}
			}))
		}
		report(b, peak)
	})
	b.Run("SEARCH_BODY", func(b *testing.B) {
		var peak uint64
		for i := 0; i < b.N; i++ {
			peak = max(peak, peakHeap(func() {
				d, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"kumquat"}}, nil).Wait()
				if err != nil || len(d.AllUIDs()) != (n+99)/100 {
					b.Fatalf("search: %v %v", len(d.AllUIDs()), err)
				}
			}))
		}
		report(b, peak)
	})
}
