package imap

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"petrel/internal/inflate"
)

// deflateConn is a connection after COMPRESS DEFLATE (RFC 4978): raw
// DEFLATE (RFC 1951) both ways over the connection below it (the corkConn,
// or TLS over it).
//
// Input: internal/inflate returns what it decoded before it could wait
// for input. Go's own compress/flate returns data only at a sync flush's
// empty stored block, so a client that flushes with zlib's
// Z_PARTIAL_FLUSH (mbsync) would wait for its command's reply while the
// server waited for the next block's header. The inflater's 32 KiB window
// is the connection's for as long as it lives: the client's later
// commands may refer back into it.
//
// Output: a burst of responses (everything written between two reads, as
// corkConn counts them) is compressed by a compress/flate writer lent from
// the server's pool and ends with a sync flush, so the client can decode
// all of it before it answers. The writer goes back to the pool, reset,
// when the server reads again: the next burst refers to nothing before it
// (a valid stream; the client keeps its own window) and an idle
// connection holds no compressor. A write made while a read waits (IDLE's
// updates) is flushed at once, as corkConn does.
type deflateConn struct {
	net.Conn
	zr   io.Reader
	pool *deflatePool

	mu      sync.Mutex
	zw      *flate.Writer // lent from pool while a burst is written
	reading bool          // a Read is waiting: flush each write
	err     error         // the first write error; later writes return it
}

// compressReadBuf is how much compressed input is read at once.
const compressReadBuf = 2048

// newDeflateConn compresses c from now on; pending is input already read
// from c (after the COMPRESS command), which is compressed too.
func newDeflateConn(c net.Conn, pending []byte, pool *deflatePool) *deflateConn {
	var src io.Reader = c
	if len(pending) > 0 {
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), c)
	}
	return &deflateConn{Conn: c, zr: newInflater(src), pool: pool}
}

// newInflater reads raw DEFLATE from r, returning what it decoded before
// it could wait for input.
func newInflater(r io.Reader) io.Reader { return inflate.New(r, compressReadBuf) }

// Read ends the burst being written (sync flush, writer back to the pool),
// then inflates input.
func (c *deflateConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.endBurstLocked()
	c.reading = err == nil
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.zr.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	if err != nil && err != io.EOF && !isIOError(err) {
		// Corrupt input: the stream cannot go on.
		err = fmt.Errorf("imap: inflate: %w", err)
	}
	return n, err
}

func (c *deflateConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.zw == nil {
		c.zw = c.pool.get(c.Conn)
	}
	if _, err := c.zw.Write(p); err != nil {
		c.err = err
		return 0, err
	}
	if c.reading {
		if err := c.endBurstLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// endBurstLocked sync-flushes the burst and returns its writer.
func (c *deflateConn) endBurstLocked() error {
	if c.err != nil {
		return c.err
	}
	if c.zw == nil {
		return nil
	}
	err := c.zw.Flush()
	c.pool.put(c.zw)
	c.zw = nil
	if err != nil {
		c.err = err
	}
	return err
}

// Close sends what is pending (unless a writer is blocked, which the close
// then releases) and closes the connection.
func (c *deflateConn) Close() error {
	if c.mu.TryLock() {
		c.endBurstLocked()
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// Unwrap returns the connection under compression.
func (c *deflateConn) Unwrap() net.Conn { return c.Conn }

// SetWriteDeadline applies to the writes of the connection below.
func (c *deflateConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// deflatePool keeps a few reset compressors for the server's compressed
// connections (each is about 1 MiB, most of it hash tables). A burst takes
// one and gives it back when it ends; past maxFree they are dropped.
type deflatePool struct {
	mu      sync.Mutex
	free    []*flate.Writer
	maxFree int
}

// deflateLevel: BestSpeed's reset is cheap (an offset moves) where the
// other levels clear 640 KiB of hash chains, and IMAP's text still
// shrinks three- to fivefold.
const deflateLevel = flate.BestSpeed

func (p *deflatePool) get(w io.Writer) *flate.Writer {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		zw := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		zw.Reset(w)
		return zw
	}
	p.mu.Unlock()
	zw, _ := flate.NewWriter(w, deflateLevel) // fails only for a bad level
	return zw
}

func (p *deflatePool) put(zw *flate.Writer) {
	zw.Reset(io.Discard) // keep no reference to the connection
	p.mu.Lock()
	if len(p.free) < p.maxFree {
		p.free = append(p.free, zw)
	}
	p.mu.Unlock()
}
