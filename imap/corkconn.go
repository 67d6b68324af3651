package imap

import (
	"net"
	"sync"
	"time"
)

// corkConn holds a connection's output until the server next reads from it
// (or its buffer fills, or it closes), so that a command's responses leave
// in a few large writes instead of one write(2) per line: go-imap flushes
// its buffered writer at the end of every response line, which for
// `FETCH 1:* (FLAGS)` on a big mailbox is one system call per message.
//
// Nothing waits in the buffer while the server waits for the client: every
// Read first writes out what is pending, and a Write made while a Read is
// blocked (IDLE's unsolicited EXISTS, a BYE from another goroutine) goes
// out at once. Close writes out what is pending, with a short deadline.
//
// The buffer is lent from a pool shared by the server's connections while a
// command's responses are written and given back when the server reads
// again: a busy connection does not grow a new buffer for every command,
// an idle one holds none.
//
// go-imap sets a write deadline around every response; corkConn records it
// and applies it (or writeTimeout from now, whichever is later) to the
// writes it actually makes, so a client that stops reading still times out.
type corkConn struct {
	net.Conn
	writeTimeout time.Duration
	max          int

	bufs *sync.Pool // of *[]byte; nil: no pooling

	mu       sync.Mutex
	buf      []byte
	bp       *[]byte   // what buf came from the pool in, if it did
	reading  bool      // a Read is in progress: write through
	deadline time.Time // the last write deadline set by the caller
	err      error     // the first write error; later writes return it
}

const (
	corkMax          = 64 << 10
	corkWriteTimeout = 30 * time.Second
	corkCloseTimeout = time.Second
)

// newCorkConn corks c, with buffers from bufs (a pool of *[]byte whose
// New may be nil) unless it is nil.
func newCorkConn(c net.Conn, bufs *sync.Pool) *corkConn {
	return &corkConn{Conn: c, writeTimeout: corkWriteTimeout, max: corkMax, bufs: bufs}
}

// take gives the connection a buffer from the pool when it has none.
func (c *corkConn) take() {
	if c.buf != nil || c.bufs == nil {
		return
	}
	if bp, ok := c.bufs.Get().(*[]byte); ok {
		c.buf, c.bp = (*bp)[:0], bp
	}
}

// release gives the buffer back to the pool (unless it grew too large to
// keep) and leaves the connection without one.
func (c *corkConn) release() {
	if c.bufs != nil && c.buf != nil && cap(c.buf) <= 4*c.max {
		bp := c.bp
		if bp == nil {
			bp = new([]byte)
		}
		*bp = c.buf[:0]
		c.bufs.Put(bp)
	}
	c.buf, c.bp = nil, nil
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.take()
	if !c.reading && len(c.buf)+len(p) <= c.max {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	// Write what is pending and p: in one write when p is small, else p
	// as it is, without copying it (a large literal).
	var extra []byte
	if len(p) < c.max {
		c.buf = append(c.buf, p...)
	} else {
		extra = p
	}
	err := c.flushLocked(extra, time.Now().Add(c.writeTimeout))
	if c.reading {
		c.release() // written while waiting for the client (IDLE): keep none
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// flushLocked writes the buffer, then extra, under the later of the
// caller's deadline and dl.
func (c *corkConn) flushLocked(extra []byte, dl time.Time) error {
	if len(c.buf) == 0 && len(extra) == 0 {
		return nil
	}
	if c.deadline.After(dl) {
		dl = c.deadline
	}
	c.Conn.SetWriteDeadline(dl)
	var err error
	if len(c.buf) > 0 {
		_, err = c.Conn.Write(c.buf)
	}
	if err == nil && len(extra) > 0 {
		_, err = c.Conn.Write(extra)
	}
	if cap(c.buf) > 4*c.max {
		c.buf, c.bp = nil, nil // do not keep a large buffer
	} else {
		c.buf = c.buf[:0]
	}
	if err != nil {
		c.err = err
	}
	return err
}

func (c *corkConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked(nil, time.Now().Add(c.writeTimeout))
	c.release() // a connection waiting for its client keeps no buffer
	c.reading = err == nil
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// SetWriteDeadline records the deadline for the writes corkConn makes.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the read deadline and records the write deadline.
func (c *corkConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

// Close writes out what is pending (unless a writer is blocked, which the
// close then releases) and closes the connection.
func (c *corkConn) Close() error {
	if c.mu.TryLock() {
		if c.err == nil {
			c.deadline = time.Time{}
			c.flushLocked(nil, time.Now().Add(corkCloseTimeout))
		}
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// Unwrap returns the underlying connection.
func (c *corkConn) Unwrap() net.Conn { return c.Conn }
