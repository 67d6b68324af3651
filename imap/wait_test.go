package imap_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	pimap "petrel/imap"
)

// TestWaitInput: what a session waiting in IDLE (or under NOTIFY) reads
// first goes to the command after it however it is cut: DONE in pieces,
// DONE with commands after it in the same segment, a command longer than
// the waiting read (64 octets), and a wrong word (BAD, the session goes
// on); updates that came during the wait are written first.
func TestWaitInput(t *testing.T) {
	long := "FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM TO CC DATE MESSAGE-ID)])"
	for _, tc := range []struct {
		name   string
		notify bool
		pieces []string // sent one by one after the update, each once the server read the one before
		want   []string // the tagged replies that follow, in order
	}{
		{"done split", false, []string{"DO", "NE\r\n"}, []string{"i OK"}},
		{"done then commands", false, []string{"DONE\r\na NOOP\r\nb " + long + "\r\n"}, []string{"i OK", "a OK", "b OK"}},
		{"long command after done", false, []string{"DONE\r\n", "b " + long + "\r\n"}, []string{"i OK", "b OK"}},
		{"not done", false, []string{"STOP\r\n", "a NOOP\r\n"}, []string{"i BAD", "a OK"}},
		{"notify: long command", true, []string{"b " + long[:30], long[30:] + "\r\n"}, []string{"b OK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.deliver(t, simpleMsg("first", "b"))
			r, server := e.countedRaw(t)
			r.login(t)
			r.cmd(t, "SELECT INBOX", "OK")
			if tc.notify {
				r.cmd(t, "NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge))", "OK")
			} else {
				r.send(t, "i IDLE")
				if l := r.line(t); !strings.HasPrefix(l, "+ ") {
					t.Fatalf("IDLE: %q", l)
				}
			}
			e.deliver(t, simpleMsg("second", "b"))
			if l := r.line(t); l != "* 2 EXISTS\r\n" {
				t.Fatalf("got %q, want * 2 EXISTS", l)
			}
			start := server.total() // all it was sent so far: it replied to all
			sent := start
			for i, p := range tc.pieces {
				if i > 0 { // so that the server reads them apart
					server.waitRead(t, sent)
				}
				r.c.Write([]byte(p))
				sent += int64(len(p))
			}
			for _, w := range tc.want {
				tag, status, _ := strings.Cut(w, " ")
				r.until(t, tag, status)
			}
			if asked := server.askedAt(start); asked != pimap.WaitReadSize {
				t.Errorf("the first piece was read by a read of %d octets, not by the waiting read (%d)", asked, pimap.WaitReadSize)
			}
			r.cmd(t, "NOOP", "OK") // and the session goes on
		})
	}
}

// countedRaw is e.raw on a listener of its own whose connection counts
// what the server read from it.
func (e *env) countedRaw(t *testing.T) (*rawConn, *countedConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l, accepted: make(chan *countedConn, 1)}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(cl) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := newRaw(t, c)
	select {
	case sc := <-cl.accepted:
		return r, sc
	case <-time.After(time.Minute):
		t.Fatal("the server did not accept the connection within a minute")
		return nil, nil
	}
}

// countingListener accepts countedConns (the first is sent on accepted).
type countingListener struct {
	net.Listener
	accepted chan *countedConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: c, changed: make(chan struct{})}
	select {
	case l.accepted <- cc:
	default:
	}
	return cc, nil
}

// countedConn is a server's connection that counts the octets its reads
// returned and tells each read to waitRead.
type countedConn struct {
	net.Conn
	mu      sync.Mutex
	read    int64
	asked   map[int64]int // by what had been read before: the size of the read that returned more
	changed chan struct{} // closed (and replaced) at each read
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if n > 0 {
		if c.asked == nil {
			c.asked = map[int64]int{}
		}
		c.asked[c.read] = len(p)
	}
	c.read += int64(n)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return n, err
}

// Unwrap lets the server reach the socket (quickack).
func (c *countedConn) Unwrap() net.Conn { return c.Conn }

func (c *countedConn) total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read
}

// askedAt is the size of the read that returned the octets after the
// first at (0 if none did).
func (c *countedConn) askedAt(at int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked[at]
}

// waitRead returns once the server has read n octets in all, failing the
// test if it has not within a minute.
func (c *countedConn) waitRead(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		c.mu.Lock()
		read, changed := c.read, c.changed
		c.mu.Unlock()
		if read >= n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("the server read %d octets, not %d, within a minute", read, n)
		}
	}
}
