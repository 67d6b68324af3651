package pop3_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// countingListener counts the Write calls on the connections it accepts.
// The count goes up before the write, so a client that has read a whole
// reply sees every write that carried it counted.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// TestRetrRepliesInOneWrite: a RETR reply ("+OK", the dot-stuffed message
// and ".") leaves in one write when it fits the 32 KiB output buffer, and
// a big message in about one write per 32 KiB, never per line: the bench
// scenario's 4 KiB messages of dot-led lines then cost the client one
// receive each (bench/run.sh pop3: poplib did 1,005 recvfrom calls for
// 1,000 RETRs under strace).
func TestRetrRepliesInOneWrite(t *testing.T) {
	e := newEnv(t)
	sizes := []int{300, 4 << 10, 4 << 10, 20 << 10, 200 << 10}
	var msgs [][]byte
	for i, size := range sizes {
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: bob@example.net\r\nMessage-ID: <%d@test.example>\r\nSubject: %d\r\n\r\n", i, i)
		for b.Len() < size-80 {
			fmt.Fprintf(&b, "%s\r\n", strings.Repeat(".", 70)) // every line dot-stuffed
		}
		msgs = append(msgs, b.Bytes())
	}
	e.deliverAll(t, msgs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	go e.srv.Serve(cl) // Shutdown in e's cleanup closes it too
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	c.line()
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret", "+OK")
	for n := 1; n <= len(msgs); n++ {
		before := cl.writes.Load()
		c.expect(fmt.Sprintf("RETR %d", n), "+OK")
		got := c.body()
		writes := cl.writes.Load() - before
		want := int64(len(got)/(32<<10) + 1)
		if writes > want {
			t.Errorf("RETR %d (%d octets): %d writes, want at most %d", n, len(got), writes, want)
		}
		if len(got) < 32<<10 && writes != 1 {
			t.Errorf("RETR %d (%d octets): %d writes, want 1", n, len(got), writes)
		}
	}
	c.expect("QUIT", "+OK")
}
