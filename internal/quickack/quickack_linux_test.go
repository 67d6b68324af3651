package quickack

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// hidden hides its connection's SyscallConn, as the servers' connection
// counters and limiters do, but can be unwrapped.
type hidden struct{ net.Conn }

func (h hidden) Unwrap() net.Conn { return h.Conn }

// tcpPair returns the two ends of a loopback connection; the client keeps
// Nagle's algorithm on, as Python's imaplib and poplib do.
func tcpPair(t *testing.T) (server net.Conn, client *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client = c.(*net.TCPConn)
	client.SetNoDelay(false)
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// splitWrites measures what an IMAP APPEND from imaplib costs the server:
// after a few command/reply exchanges (which put the server's socket in
// "ping-pong" mode: delayed ACKs), the client writes a literal and then,
// in a second small write, its CRLF, which Nagle holds until the literal
// is acknowledged. It returns the shortest time, over rounds, from the
// literal's write until the server has read the CRLF.
func splitWrites(t *testing.T, server net.Conn, client *net.TCPConn, rounds int) time.Duration {
	t.Helper()
	sr, cr := bufio.NewReader(server), bufio.NewReader(client)
	server.SetDeadline(time.Now().Add(30 * time.Second))
	client.SetDeadline(time.Now().Add(30 * time.Second))
	literal := make([]byte, 600)
	for i := range literal {
		literal[i] = 'x'
	}
	best := time.Hour
	for i := 0; i < rounds; i++ {
		// The command and the continuation request.
		if _, err := io.WriteString(client, "a APPEND INBOX {600}\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := sr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(server, "+ go ahead\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := cr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		// The literal, then its CRLF.
		t0 := time.Now()
		if _, err := client.Write(literal); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(client, "\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(sr, make([]byte, len(literal))); err != nil {
			t.Fatal(err)
		}
		if _, err := sr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(t0))
		if _, err := io.WriteString(server, "a OK\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := cr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	return best
}

// TestSplitWriteNotDelayed: through a Conn (reached by Unwrap, as behind
// the servers' connection counters), a literal's CRLF written separately
// arrives at once; on a bare socket the same exchange waits for the
// kernel's delayed ACK (at least 40 ms on Linux) every time.
func TestSplitWriteNotDelayed(t *testing.T) {
	server, client := tcpPair(t)
	w := Wrap(hidden{server})
	if _, ok := w.(*Conn); !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn", hidden{}, w)
	}
	if got := splitWrites(t, w, client, 5); got >= 20*time.Millisecond {
		t.Errorf("with quick ACKs the CRLF took at best %v, want well under the 40 ms delayed-ACK timer", got)
	}
	bareServer, bareClient := tcpPair(t)
	if got := splitWrites(t, bareServer, bareClient, 3); got < 30*time.Millisecond {
		t.Logf("without quick ACKs: %v (the kernel did not delay its ACK this time)", got)
	} else {
		t.Logf("without quick ACKs: %v (delayed ACK), as expected", got)
	}
}

// TestWrapLeavesOthers: what has no socket is returned as it is.
func TestWrapLeavesOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if w := Wrap(a); w != a {
		t.Errorf("Wrap(net.Pipe) = %T, want it unchanged", w)
	}
	if w := Wrap(hidden{a}); w != (hidden{a}) {
		t.Errorf("Wrap(hidden pipe) = %T, want it unchanged", w)
	}
}

// TestTurnsCostNoAck: a client and server taking turns (command, reply)
// ask for no quick ACK, the reply carries it; reading on without having
// answered (the rest of a command) asks for one each time.
func TestTurnsCostNoAck(t *testing.T) {
	server, client := tcpPair(t)
	w := Wrap(server).(*Conn)
	sr, cr := bufio.NewReader(w), bufio.NewReader(client)
	w.SetDeadline(time.Now().Add(10 * time.Second))
	client.SetDeadline(time.Now().Add(10 * time.Second))
	for range 20 {
		io.WriteString(client, "a NOOP\r\n")
		if _, err := sr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "a OK\r\n")
		if _, err := cr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.acks.Load(); n != 0 {
		t.Errorf("%d quick ACKs asked for while taking turns, want 0", n)
	}
	for i := range 3 {
		io.WriteString(client, "part\n")
		if _, err := sr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if n := w.acks.Load(); n != int64(i) {
				t.Fatalf("after %d unanswered reads, %d quick ACKs, want %d", i+1, n, i)
			}
		}
	}
}
