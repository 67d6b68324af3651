package mta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heapInUse is the heap in use after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// Clients that send a large message and stall before the final dot hold
// little memory: past the spool threshold their data is on disk (issue
// 18.3). The test reports the heap held per byte in flight; before the
// spool it was about 2 (a bytes.Buffer as large as the data, or twice).
func TestStalledDataMemory(t *testing.T) {
	const (
		clients = 4
		size    = 4 << 20
	)
	ts := newTestServer(t, func(o *Options) { o.SpoolDir = t.TempDir() })
	before := heapInUse()
	line := "Subject: big\r\n\r\n" + strings.Repeat("x", 998) + "\r\n"
	var wg sync.WaitGroup
	var dialogs []*dialog
	for range clients {
		d := dial(t, ts.smtpAddr)
		d.conn.SetDeadline(time.Now().Add(2 * time.Minute))
		d.read()
		d.expect("EHLO crepes.fr", 250)
		d.expect("MAIL FROM:<alice@crepes.fr>", 250)
		d.expect("RCPT TO:<bob@hamburger.edu>", 250)
		d.expect("DATA", 354)
		dialogs = append(dialogs, d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunk := []byte(strings.Repeat(line, 64))
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := d.conn.Write(chunk); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	per := int64(size/(len(line)*64)+1) * int64(len(line)*64)
	want := clients * per
	for deadline := time.Now().Add(time.Minute); ts.mta.DataInFlight() < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes in flight after a minute, want %d", ts.mta.DataInFlight(), want)
		}
	}
	held := heapInUse() - before
	ratio := float64(held) / float64(want)
	t.Logf("%d clients stalled with %d MiB each before the dot: heap +%.1f MiB, %.3f bytes per byte in flight",
		clients, per>>20, float64(held)/(1<<20), ratio)
	if ratio > 0.25 {
		t.Errorf("%.3f bytes of heap per byte in flight, want at most 0.25", ratio)
	}
	// And every message still arrives whole once its client goes on.
	for _, d := range dialogs {
		io.WriteString(d.conn, ".\r\n")
		if code, msg := d.read(); code != 250 {
			t.Fatalf("end of data: %d %s", code, msg)
		}
	}
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != clients {
		t.Fatalf("bob has %d messages, want %d", len(msgs), clients)
	}
	for _, m := range msgs {
		if !strings.HasSuffix(string(m), strings.Repeat("x", 998)+"\r\n") || len(m) < int(per) {
			t.Fatalf("a message of %d bytes, want over %d", len(m), per)
		}
	}
	if n := ts.mta.DataInFlight(); n != 0 {
		t.Errorf("%d bytes still in flight", n)
	}
}

// The memory budget bounds all sessions' data together: a spool that
// cannot have more goes to disk, a message read back whole waits for its
// memory (or gives up when its time is up), and a message larger than the
// whole budget still goes through alone.
func TestSpoolBudget(t *testing.T) {
	b := newMemBudget(2 << 20) // 1 MiB of it for data coming in
	var inFlight atomic.Int64
	newSp := func() *spool {
		return &spool{budget: b, threshold: 1 << 20, dir: t.TempDir(), inFlight: &inFlight}
	}
	data := bytes.Repeat([]byte("0123456789abcde\n"), 48<<10) // 768 KiB
	a, c := newSp(), newSp()
	a.Write(data)
	if a.file != nil || b.used == 0 {
		t.Fatalf("the first spool is not in memory (used %d)", b.used)
	}
	c.Write(data)
	if c.file == nil {
		t.Fatal("the second spool is in memory beyond the budget")
	}
	if b.used > b.limit {
		t.Fatalf("%d bytes used of %d", b.used, b.limit)
	}
	// Stalled clients cannot take the half kept for complete messages.
	if b.tryTake(b.limit/2 - b.receiving + 1) {
		t.Fatal("data coming in took more than half the budget")
	}
	// c must read its message back whole: no memory until a gives it back.
	hog, _ := b.take(context.Background(), b.limit-b.used-int64(len(data))+1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := c.bytes(ctx); !errors.Is(err, errBusy) {
		t.Fatalf("bytes with the budget taken: %v, want errBusy", err)
	}
	cancel()
	got := make(chan []byte)
	go func() {
		msg, err := c.bytes(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- msg
	}()
	a.release()
	b.give(hog, false)
	if msg := <-got; !bytes.Equal(msg, data) {
		t.Fatalf("read back %d bytes, not the data", len(msg))
	}
	c.release()
	if b.used != 0 || inFlight.Load() != 0 {
		t.Fatalf("after release: %d used, %d in flight", b.used, inFlight.Load())
	}
	// Larger than the whole budget: it goes through alone.
	big := newSp()
	big.Write(bytes.Repeat(data, 3))
	if msg, err := big.bytes(context.Background()); err != nil || len(msg) != 3*len(data) {
		t.Fatalf("a message over the budget: %d bytes, %v", len(msg), err)
	}
	big.release()
}

// BDAT's chunks go to the session's spool as they come, under the same
// memory budget and in-flight count as DATA, not whole into the
// connection's memory until LAST: 4 MiB of chunks without LAST are data in
// flight, the heap does not grow by them, and the message arrives whole.
func TestBDATSpooled(t *testing.T) {
	const size = 4 << 20
	var mu sync.Mutex
	var results []string
	ts := newTestServer(t, func(o *Options) {
		o.SpoolDir = t.TempDir()
		o.OnTransaction = func(r string) { mu.Lock(); results = append(results, r); mu.Unlock() }
	})
	d := dial(t, ts.smtpAddr)
	d.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	before := heapInUse()
	first := "Subject: chunks\r\n\r\n"
	fmt.Fprintf(d.conn, "BDAT %d\r\n%s", len(first), first)
	if code, msg := d.read(); code != 250 {
		t.Fatalf("first chunk: %d %s", code, msg)
	}
	chunk := strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 1024) // 1 MiB
	for range size / len(chunk) {
		fmt.Fprintf(d.conn, "BDAT %d\r\n%s", len(chunk), chunk)
		if code, msg := d.read(); code != 250 {
			t.Fatalf("chunk: %d %s", code, msg)
		}
	}
	want := int64(len(first) + size)
	for deadline := time.Now().Add(time.Minute); ts.mta.DataInFlight() < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes in flight before LAST, want %d (BDAT chunks not spooled as they come)", ts.mta.DataInFlight(), want)
		}
	}
	// The spool keeps its first SpoolThreshold (1 MiB) in memory by
	// design; holding the chunks would add all 4 MiB (or twice that).
	if held := heapInUse() - before; held > size/2 {
		t.Errorf("heap +%d bytes for %d bytes of BDAT chunks in flight", held, size)
	}
	fmt.Fprintf(d.conn, "BDAT 0 LAST\r\n")
	if code, msg := d.read(); code != 250 {
		t.Fatalf("LAST: %d %s", code, msg)
	}
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 1 || !strings.HasSuffix(string(msgs[0]), first+strings.Repeat(chunk, size/len(chunk))) {
		t.Fatalf("stored %d messages", len(msgs))
	}
	if n := ts.mta.DataInFlight(); n != 0 {
		t.Errorf("%d bytes still in flight", n)
	}
	// RSET in the middle of a BDAT message ends its Data: nothing stored,
	// nothing left in flight.
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	fmt.Fprintf(d.conn, "BDAT %d\r\n%s", len(first), first)
	if code, msg := d.read(); code != 250 {
		t.Fatalf("first chunk: %d %s", code, msg)
	}
	d.expect("RSET", 250)
	if n := ts.mta.DataInFlight(); n != 0 {
		t.Errorf("%d bytes in flight after RSET", n)
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 1 {
		t.Errorf("%d messages after an RSET mid-BDAT, want 1", len(msgs))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(results, []string{"accepted", "aborted"}) {
		t.Errorf("transactions counted %v, want [accepted aborted] (an RSET mid-BDAT is no tempfail)", results)
	}
}
