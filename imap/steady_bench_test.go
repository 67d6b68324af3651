package imap_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"petrel/store"
	"petrel/store/storetest"
)

// BenchmarkSteady is bench/run.sh imap-steady in one process: 10 clients
// that stay logged in, each on its own INBOX of 300 messages, looping a
// desktop client's commands (LIST, STATUS, UID FETCH 1:* (FLAGS), FETCH of
// 20 envelopes, three BODY.PEEK[], four STOREs, EXPUNGE, APPEND). One op
// is one command; it reports ops/s and the p50 of the write commands.
//
//	go test -run XXX -bench Steady -benchtime 3000x -cpuprofile cpu.out ./imap/
func BenchmarkSteady(b *testing.B) {
	clients, msgs := 10, 300
	if n, err := strconv.Atoi(os.Getenv("STEADY_CLIENTS")); err == nil && n > 0 {
		clients = n
	}
	var commits, cwrites, commitNS atomic.Int64
	st, err := store.Open(filepath.Join(b.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true, OnCommit: func(d time.Duration, n int) {
		commits.Add(1)
		cwrites.Add(int64(n))
		commitNS.Add(int64(d))
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := newEnvWithStore(b, st, storetest.Account(b, st, "user@example.org"))
	body := func(i int) []byte {
		return []byte(fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: user@example.org\r\nSubject: Message number %d\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message %d.\r\nIt has a couple of lines of text.\r\n", i%97, i%97, i, i, i))
	}
	var cs []*imapclient.Client
	counts := make([]*atomic.Int64, clients)
	for k := range clients {
		addr := fmt.Sprintf("steady%d@example.org", k)
		a := storetest.Account(b, e.st, addr)
		var wg sync.WaitGroup
		for i := range msgs {
			wg.Go(func() {
				if _, err := e.st.Deliver(context.Background(), &store.Delivery{Body: body(i), Targets: []store.Target{{Account: a.ID}}}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		count := &atomic.Int64{}
		counts[k] = count
		c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					count.Store(int64(*d.NumMessages))
				}
			},
			Expunge: func(uint32) { count.Add(-1) },
		}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Login(addr, "secret").Wait(); err != nil {
			b.Fatal(err)
		}
		d := mustSelect(b, c, "INBOX")
		count.Store(int64(d.NumMessages))
		cs = append(cs, c)
	}
	commits.Store(0)
	cwrites.Store(0)
	commitNS.Store(0)
	var next atomic.Int64
	var mu sync.Mutex
	writes := map[string][]time.Duration{}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(k), 1))
			lat := map[string][]time.Duration{}
			for next.Add(13) <= int64(b.N) {
				if err := steadyRound(c, counts[k], r, body, lat); err != nil {
					b.Error(err)
					return
				}
			}
			mu.Lock()
			for op, l := range lat {
				writes[op] = append(writes[op], l...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if c := commits.Load(); c > 0 {
		b.ReportMetric(float64(cwrites.Load())/float64(c), "writes/commit")
		b.ReportMetric(float64(commitNS.Load())/float64(c)/1e6, "ms/commit")
	}
	for op, l := range writes {
		slices.Sort(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, op+"-p50-ms")
	}
}

// steadyRound is one loop of 13 commands; it records the latency of the
// writes in lat.
func steadyRound(c *imapclient.Client, count *atomic.Int64, r *rand.Rand, body func(int) []byte, lat map[string][]time.Duration) error {
	n := func() uint32 { return uint32(max(1, count.Load())) }
	seq := func() imap.SeqSet { return imap.SeqSetNum(1 + uint32(r.IntN(int(n())))) }
	timed := func(op string, f func() error) error {
		t := time.Now()
		err := f()
		lat[op] = append(lat[op], time.Since(t))
		return err
	}
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		return err
	}
	if _, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait(); err != nil {
		return err
	}
	if _, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect(); err != nil {
		return err
	}
	from := 1 + uint32(r.IntN(int(max(1, n()-19))))
	if _, err := c.Fetch(imap.SeqSet{{Start: from, Stop: min(n(), from+19)}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true}).Collect(); err != nil {
		return err
	}
	for k := range 3 {
		set := seq()
		if _, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil {
			return err
		}
		if k < 2 {
			if err := timed("STORE", func() error {
				_, err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
				return err
			}); err != nil {
				return err
			}
		}
	}
	if err := timed("STORE", func() error {
		_, err := c.Store(seq(), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
		return err
	}); err != nil {
		return err
	}
	if err := timed("STORE", func() error {
		_, err := c.Store(seq(), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
		return err
	}); err != nil {
		return err
	}
	if err := timed("EXPUNGE", func() error { _, err := c.Expunge().Collect(); return err }); err != nil {
		return err
	}
	return timed("APPEND", func() error {
		m := body(r.IntN(1000))
		cmd := c.Append("INBOX", int64(len(m)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		if _, err := cmd.Write(m); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		_, err := cmd.Wait()
		return err
	})
}
