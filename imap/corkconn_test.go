package imap

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// countingConn counts the writes that reach the connection.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestCorkConnBatchesUntilRead: a thousand response lines leave in one
// write, made when the server goes back to reading, and all arrive.
func TestCorkConnBatchesUntilRead(t *testing.T) {
	srv, cli := tcpPair(t)
	cc := &countingConn{Conn: srv}
	c := newCorkConn(cc, nil)
	var want bytes.Buffer
	for i := 0; i < 1000; i++ {
		line := []byte("* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n")
		want.Write(line)
		if _, err := c.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.count(); n != 0 {
		t.Fatalf("%d writes before the server read again, want 0", n)
	}
	go cli.Write([]byte("a NOOP\r\n"))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	if n := cc.count(); n != 1 {
		t.Errorf("%d writes for 1000 lines, want 1", n)
	}
	got := make([]byte, want.Len())
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("client got %d bytes (%v), want the %d written", len(got), err, want.Len())
	}
}

// TestCorkConnBigOutput: past its buffer's size the output goes out
// without waiting for a read, in writes of at least that size.
func TestCorkConnBigOutput(t *testing.T) {
	srv, cli := tcpPair(t)
	cc := &countingConn{Conn: srv}
	c := newCorkConn(cc, nil)
	total := 0
	go func() { io.Copy(io.Discard, cli) }()
	line := bytes.Repeat([]byte("x"), 100)
	for total < 10*corkMax {
		if _, err := c.Write(line); err != nil {
			t.Fatal(err)
		}
		total += len(line)
	}
	if n := cc.count(); n < 9 || n > 10 {
		t.Errorf("%d writes for %d bytes, want 9 or 10 (one per %d bytes)", n, total, corkMax)
	}
}

// TestCorkConnWriteDuringRead: what is written while the server waits for
// the client (IDLE's updates) goes out at once.
func TestCorkConnWriteDuringRead(t *testing.T) {
	srv, cli := tcpPair(t)
	c := newCorkConn(srv, nil)
	readDone := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 16))
		readDone <- err
	}()
	line := []byte("* 5 EXISTS\r\n")
	// Wait for the Read to be blocked, then write.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		reading := c.reading
		c.mu.Unlock()
		if reading || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Write(line); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(line))
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, line) {
		t.Fatalf("client got %q, %v while the server was reading", got, err)
	}
	cli.Write([]byte("DONE\r\n"))
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
}

// TestCorkConnCloseFlushes: a BYE written just before closing arrives.
func TestCorkConnCloseFlushes(t *testing.T) {
	srv, cli := tcpPair(t)
	c := newCorkConn(srv, nil)
	bye := []byte("* BYE Autologout\r\n")
	c.Write(bye)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(cli)
	if err != nil || !bytes.Equal(got, bye) {
		t.Fatalf("client got %q, %v, want the BYE then EOF", got, err)
	}
}

// TestCorkConnStalledClient: a client that stops reading makes the
// server's writes fail after the write timeout instead of blocking it
// forever, and every later write fails at once.
func TestCorkConnStalledClient(t *testing.T) {
	srv, cli := net.Pipe() // unbuffered: nothing is written until read
	defer cli.Close()
	c := newCorkConn(srv, nil)
	c.writeTimeout = 50 * time.Millisecond
	c.max = 10
	start := time.Now()
	_, err := c.Write(bytes.Repeat([]byte("y"), 100))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a stalled client: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if _, err := c.Write([]byte("z")); err == nil {
		t.Error("a write after a failed one succeeded")
	}
	// The caller's longer deadline (go-imap's for literals) is honoured.
	c2 := newCorkConn(srv, nil)
	c2.writeTimeout = 10 * time.Millisecond
	c2.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	start = time.Now()
	c2.Write(bytes.Repeat([]byte("y"), 2*corkMax))
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("gave up after %v, before the caller's deadline of 300ms", d)
	}
}

// TestCorkConnPoolsItsBuffer: the buffer of a command's responses goes
// back to the pool when the server reads again, so that a connection
// waiting for its client, even after an IDLE update, holds none. (Whether
// the pool hands it out again is sync.Pool's business: under -race it
// drops some on purpose.)
func TestCorkConnPoolsItsBuffer(t *testing.T) {
	srv, cli := tcpPair(t)
	var pool sync.Pool
	c := newCorkConn(srv, &pool)
	cli.SetDeadline(time.Now().Add(5 * time.Second))
	read := func() {
		t.Helper()
		if _, err := c.Read(make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
	holds := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.buf != nil
	}
	resp := bytes.Repeat([]byte("* 1 FETCH (FLAGS ())\r\n"), 100)
	c.Write(resp)
	cli.Write([]byte("a NOOP\r\n"))
	read()
	if holds() {
		t.Error("the connection kept its buffer while reading")
	}
	if _, err := io.ReadFull(cli, make([]byte, len(resp))); err != nil {
		t.Fatal(err)
	}
	c.Write(resp)
	// An update written while the server waits for the client, once its
	// Read is under way: waited for a minute at most, and the Read has a
	// deadline, so that a Read that never blocks fails the test, not hangs.
	srv.SetReadDeadline(time.Now().Add(2 * time.Minute))
	go func() {
		deadline := time.Now().Add(time.Minute)
		for !func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.reading }() {
			if time.Now().After(deadline) {
				t.Error("the server's Read did not start within a minute")
				break
			}
			time.Sleep(time.Millisecond)
		}
		c.Write([]byte("* 2 EXISTS\r\n"))
		if holds() {
			t.Error("the connection kept a buffer after an update written while reading")
		}
		cli.Write([]byte("DONE\r\n"))
	}()
	read()
	if _, err := io.ReadFull(cli, make([]byte, len(resp)+len("* 2 EXISTS\r\n"))); err != nil {
		t.Fatal(err)
	}
}
