package pop3_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRetrBoundedMemory retrieves 1,000 messages of 4 KiB and then a
// 10 MiB one, and checks that the heap never grows by anything like the
// maildrop: RETR streams chunks copied out of short read transactions
// instead of loading messages. Not parallel: it measures the whole
// process's heap.
func TestRetrBoundedMemory(t *testing.T) {
	e := newEnv(t)
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = fourKiB(i)
	}
	e.deliverAll(t, msgs)
	big := bytes.Repeat([]byte(strings.Repeat("x", 78)+"\r\n"), 10<<20/80)
	e.deliver(t, "Subject: big\r\n\r\n"+string(big))
	msgs, big = nil, nil

	c := e.login(t)
	c.expect("STAT", "+OK 1001 ")

	defer debug.SetGCPercent(debug.SetGCPercent(1))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := base.HeapAlloc
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}()

	var total int64
	for n := 1; n <= 1001; n++ {
		c.send(fmt.Sprintf("RETR %d", n))
		var size int64
		if _, err := fmt.Sscanf(c.line(), "+OK %d octets", &size); err != nil {
			t.Fatalf("RETR %d: %v", n, err)
		}
		if got := c.discardBody(); got != size {
			t.Fatalf("RETR %d sent %d octets, announced %d", n, got, size)
		}
		total += size
	}
	close(stop)
	wg.Wait()
	grew := int64(peak) - int64(base.HeapAlloc)
	t.Logf("retrieved %d MiB; heap grew by at most %d KiB", total>>20, grew>>10)
	if grew > 2<<20 {
		t.Errorf("heap grew by %d KiB while sending %d MiB, want under 2 MiB", grew>>10, total>>20)
	}
	c.expect("QUIT", "+OK")
}

// fourKiB is a 4 KiB test message.
func fourKiB(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: bob@example.net\r\nMessage-ID: <%d@test.example>\r\nSubject: %d\r\n\r\n", i, i)
	for b.Len() < 4096-80 {
		fmt.Fprintf(&b, "%s\r\n", strings.Repeat(".", 70))
	}
	return b.Bytes()
}

// discardBody reads a multi-line reply without keeping it and returns
// its un-stuffed length.
func (c *client) discardBody() int64 {
	c.t.Helper()
	var n int64
	atStart := true
	for {
		l, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			c.t.Fatalf("read body: %v", err)
		}
		if atStart && string(l) == ".\r\n" {
			return n
		}
		if atStart && len(l) > 0 && l[0] == '.' {
			n--
		}
		n += int64(len(l))
		atStart = err == nil
	}
}
