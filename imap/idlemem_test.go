package imap_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pimap "petrel/imap"
	"petrel/netlimit"
	"petrel/store"
	"petrel/store/storetest"
	"petrel/web"
)

// idleConnLimit is what the tests hold an idle IDLE connection to, in KiB
// of Go heap and stacks: issue 19's bound is 24 KiB, measured 28.3 on
// `petrel serve` (bench/run.sh memory) and 22–26 here when a session kept
// its bufio buffers and a second goroutine while in IDLE; with wait.go it
// is 7–10 here (10–11 under the race detector) and 9.6 on the server. 16
// leaves room for noise and catches the old way.
const idleConnLimit = 16

// idleConnMemory measures what bench/run.sh memory measures on `petrel
// serve`, in process: accounts accounts, each with an INBOX of msgs
// messages, perAcct connections to each, accepted through the wrappers
// cmd/petrel puts on its IMAP listener (netlimit's limits, web's
// connection gauge), each sending LOGIN, SELECT INBOX and IDLE one at a
// time as benchimap does, then left idle in IDLE. It returns the Go heap
// and stacks per connection (after GC; the server side plus a bare client
// socket) and the live connections, account by account in turn
// (conns[i] is to account i % accounts), with the store.
//
// Without idle the connections stop after SELECT, and the measure is taken
// once every session has gone quiet (quietAfter: waiting in awaitInput).
func idleConnMemory(tb testing.TB, accounts, perAcct, msgs int, idle bool) (heap, stack float64, conns []net.Conn, st *store.Store, targets []store.Target) {
	tb.Helper()
	st = storetest.Open(tb)
	var users []string
	for i := range accounts {
		a := storetest.Account(tb, st, fmt.Sprintf("u%03d@example.org", i))
		users = append(users, a.Address)
		targets = append(targets, store.Target{Account: a.ID})
	}
	// One delivery per message to every account, from a few goroutines
	// so that the store batches commits.
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: u000@example.org\r\nSubject: Message number %d\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d@example.net>\r\n\r\nHello, this is message %d.\r\n", i%97, i%97, i, i, i)
				if _, err := st.Deliver(context.Background(), &store.Delivery{Body: []byte(body), Targets: targets}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatalf("deliver: %v", err)
	}

	srv := pimap.New(pimap.Options{Store: st, Logger: quietLogger()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	// As cmd/petrel's serve wires the imap listener.
	limited := web.NewMetrics().CountConns(netlimit.Wrap(l, netlimit.Limits{Total: 10_000, PerIP: 10_000}, pimap.RejectBusy), "imap")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(limited) }()
	tb.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		srv.Close()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})

	idleOne := func(user string) net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		br := bufio.NewReader(c)
		until := func(prefix string) {
			for {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				line, err := br.ReadString('\n')
				if err != nil {
					tb.Fatalf("%s: read: %v", user, err)
				}
				if strings.HasPrefix(line, prefix) {
					return
				}
				if strings.Contains(line, " NO ") || strings.Contains(line, " BAD ") || strings.HasPrefix(line, "* BYE") {
					tb.Fatalf("%s: %s", user, line)
				}
			}
		}
		until("* OK")
		fmt.Fprintf(c, "a LOGIN %s secret\r\n", user)
		until("a OK")
		fmt.Fprintf(c, "b SELECT INBOX\r\n")
		until("b OK")
		if idle {
			fmt.Fprintf(c, "c IDLE\r\n")
			until("+ ")
		}
		c.SetReadDeadline(time.Time{})
		return c
	}
	// Warm-up, as the bench's: every account logs in and selects once
	// (the store's password cache), then all close.
	base := runtime.NumGoroutine()
	for _, u := range users {
		idleOne(u).Close()
	}
	measure := func() (heap, stack uint64) {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse
	}
	// The warm-up's sessions end after their clients close.
	for i := 0; runtime.NumGoroutine() > base; i++ {
		if i == 500 {
			tb.Fatalf("%d goroutines, %d before the warm-up: its sessions did not end", runtime.NumGoroutine(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h0, s0 := measure()
	for range perAcct {
		for _, u := range users {
			conns = append(conns, idleOne(u))
		}
	}
	if !idle {
		waitQuiet(tb, len(conns))
	}
	h1, s1 := measure()
	n := float64(len(conns))
	// Signed: a stack span freed since h0 may leave stacks below it.
	return float64(int64(h1-h0)) / n / 1024, float64(int64(s1-s0)) / n / 1024, conns, st, targets
}

// TestIdleConnectionMemory holds an idle IDLE connection of the real
// server's path (see idleConnMemory; 40 accounts of 1,000 messages, 5
// connections each) to idleConnLimit (issue 19: 24 KiB), and checks the
// connections are alive: a delivery reaches them. PETREL_IDLE_CONNS sets
// the number of accounts × 5 connections (default 200).
//
// It holds under the race detector too (whose instrumented frames are
// larger). BenchmarkIdleConnectionMemory, which CI runs without it, checks
// the bound as built for production.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many connections")
	}
	n := 200
	if v, err := strconv.Atoi(os.Getenv("PETREL_IDLE_CONNS")); err == nil && v >= 5 {
		n = v
	}
	accounts := n / 5
	heap, stack, conns, st, targets := idleConnMemory(t, accounts, 5, 1000, true)
	per := heap + stack
	t.Logf("%d idle IDLE connections: %.1f KiB each (heap %.1f, stacks %.1f; server side plus a bare client socket)", len(conns), per, heap, stack)
	if per > idleConnLimit {
		t.Errorf("%.1f KiB per idle IDLE connection, want at most %d", per, idleConnLimit)
	}

	// They are alive: a delivery to the first account reaches each of its
	// connections (EXISTS written by a burst, wait.go), which then end
	// IDLE and go on.
	if _, err := st.Deliver(context.Background(), &store.Delivery{
		Body:    []byte(crlf(simpleMsg("wake up", "all"))),
		Targets: targets[:1],
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(conns); i += accounts {
		c := conns[i]
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if l, err := br.ReadString('\n'); err != nil || l != "* 1001 EXISTS\r\n" {
			t.Fatalf("idle connection %d got %q, %v; want * 1001 EXISTS", i, l, err)
		}
		fmt.Fprintf(c, "DONE\r\nd NOOP\r\n")
		for _, want := range []string{"c OK", "d OK"} {
			l, err := br.ReadString('\n')
			for err == nil && strings.HasPrefix(l, "* ") { // RECENT
				l, err = br.ReadString('\n')
			}
			if err != nil || !strings.HasPrefix(l, want) {
				t.Fatalf("idle connection %d got %q, %v; want %s", i, l, err, want)
			}
		}
	}
}

// BenchmarkIdleConnectionMemory reports TestIdleConnectionMemory's
// measure (KiB/conn) and fails above idleConnLimit: CI runs
// benchmarks once without the race detector, so this is the check of the
// bound as built for production.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	var heap, stack float64
	for range b.N {
		heap, stack, _, _, _ = idleConnMemory(b, 40, 5, 1000, true)
	}
	b.ReportMetric(heap+stack, "KiB/conn")
	b.ReportMetric(stack, "stack-KiB/conn")
	if heap+stack > idleConnLimit {
		b.Errorf("%.1f KiB per idle IDLE connection, want at most %d", heap+stack, idleConnLimit)
	}
}

// waitQuiet waits until n sessions wait for input in awaitInput.
func waitQuiet(tb testing.TB, n int) {
	tb.Helper()
	buf := make([]byte, 8<<20)
	for i := 0; ; i++ {
		k := strings.Count(string(buf[:runtime.Stack(buf, true)]), "imap.(*session).awaitInput(")
		if k >= n {
			return
		}
		if i == 300 {
			tb.Fatalf("%d of %d sessions went quiet", k, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQuietConnectionMemory: a logged-in connection with a mailbox
// selected that sends nothing (not in IDLE) gives its buffers and stack
// back after quietAfter, as one in IDLE does, and still answers.
func TestQuietConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many connections")
	}
	heap, stack, conns, _, _ := idleConnMemory(t, 40, 5, 1000, false)
	per := heap + stack
	t.Logf("%d quiet connections: %.1f KiB each (heap %.1f, stacks %.1f)", len(conns), per, heap, stack)
	if per > idleConnLimit {
		t.Errorf("%.1f KiB per quiet connection, want at most %d", per, idleConnLimit)
	}
	for _, c := range conns[:10] {
		r := &rawConn{c: c, br: bufio.NewReader(c)}
		r.send(t, "d NOOP")
		r.until(t, "d", "OK")
	}
}
