package pop3_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestCommandWrittenInPieces: a client with Nagle's algorithm on that
// writes a long command (a SASL response, a long user name: over the 536
// octets Linux takes a segment to be "full-sized" below, so that no quick
// ACK is due by itself) and its CRLF separately must not wait for the
// server's delayed ACK (40 ms) on every command: the server acknowledges
// what it reads at once (TCP_QUICKACK).
func TestCommandWrittenInPieces(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	c.conn.(*net.TCPConn).SetNoDelay(false)
	long := "USER " + strings.Repeat("a", 700) + "@example.org"
	best := time.Hour
	for i := range 6 {
		t0 := time.Now()
		for _, piece := range []string{long, "\r\n"} {
			if _, err := io.WriteString(c.conn, piece); err != nil {
				t.Fatal(err)
			}
		}
		if l := c.line(); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("USER: %q", l)
		}
		if i > 0 { // the first is answered before the connection is "interactive"
			best = min(best, time.Since(t0))
		}
	}
	if best >= 20*time.Millisecond {
		t.Errorf("the fastest of 5 USER commands took %v, want well under the 40 ms delayed-ACK timer", best)
	}
}
