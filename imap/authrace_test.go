package imap_test

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"petrel/authlimit"
	pimap "petrel/imap"
)

// Simultaneous guesses from one address are checked only while its
// failures and the guesses in flight stay under the lockout limit: 90 at
// once against a limit of 10 check at most 10 passwords, and the others
// are told to try later (NO [UNAVAILABLE]). Before attempts in flight
// counted, all 90 were checked.
func TestSimultaneousGuessesCountInFlight(t *testing.T) {
	const guesses, limit = 90, 10
	var checked atomic.Int32
	lim := authlimit.New(authlimit.Options{FailDelay: time.Millisecond, MaxFailDelay: time.Millisecond, LockoutFailures: limit, LockoutTime: time.Minute})
	e := newEnv(t, func(o *pimap.Options) {
		o.AuthLimiter = lim
		o.OnAuthFailure = func() { checked.Add(1) }
	})
	conns := make([]*bufio.ReadWriter, guesses)
	for i := range conns {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(60 * time.Second))
		rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
		if l, err := rw.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
			t.Fatalf("greeting %q, %v", l, err)
		}
		conns[i] = rw
	}
	var wg sync.WaitGroup
	replies := make(chan string, guesses)
	for _, rw := range conns {
		wg.Go(func() {
			rw.WriteString("a LOGIN user@example.org wrong\r\n")
			rw.Flush()
			for {
				l, err := rw.ReadString('\n')
				if err != nil {
					replies <- "error: " + err.Error()
					return
				}
				if strings.HasPrefix(l, "a ") {
					replies <- strings.TrimSpace(l)
					return
				}
			}
		})
	}
	wg.Wait()
	close(replies)
	kinds := map[string]int{}
	for r := range replies {
		switch {
		case strings.HasPrefix(r, "a NO [AUTHENTICATIONFAILED]"):
			kinds["failed"]++
		case strings.HasPrefix(r, "a NO [UNAVAILABLE]"):
			kinds["try later"]++
		default:
			t.Errorf("a guess got %q", r)
		}
	}
	t.Logf("%d simultaneous guesses: %v, %d passwords checked", guesses, kinds, checked.Load())
	if n := checked.Load(); n > limit {
		t.Errorf("%d passwords checked from one address, want at most the limit of %d", n, limit)
	}
	if kinds["failed"] == 0 {
		t.Error("no guess was checked at all")
	}
}
