package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"sync"
	"time"

	"petrel/store"
)

// state is a session's RFC 1939 state.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

// session is one client connection.
//
// Commands are read from a bufio.Reader rather than textproto.Reader so
// that an over-long line is discarded as it arrives instead of being
// buffered whole; replies go through textproto.Writer, whose DotWriter does
// the dot-stuffing and line-end translation of multi-line replies.
type session struct {
	srv *Server
	log *slog.Logger

	mu   sync.Mutex // guards conn, which STLS replaces
	conn net.Conn

	r     *bufio.Reader
	w     *textproto.Writer
	isTLS bool
	local bool // connection from loopback

	state    state
	user     string // from USER, for PASS
	failures int    // failed logins on this connection
	acct     *store.Account
	drop     *maildrop
	seen     *seenMarker
	ctx      context.Context // origin of this session's store writes
	buf      []byte          // RETR chunk buffer, allocated on first use
}

// errQuit ends a session after its reply has been sent.
var errQuit = errors.New("session ends")

func newSession(s *Server, nc net.Conn) *session {
	c := &session{srv: s, conn: nc, log: s.log.With("remote", nc.RemoteAddr().String())}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		c.local = true
	}
	if _, ok := nc.(*tls.Conn); ok {
		c.isTLS = true
	}
	c.setConn(nc)
	return c
}

func (c *session) setConn(nc net.Conn) {
	c.mu.Lock()
	c.conn = nc
	c.mu.Unlock()
	c.r = bufio.NewReaderSize(nc, maxLine)
	c.w = textproto.NewWriter(bufio.NewWriterSize(nc, 32<<10))
}

// interrupt wakes a session waiting for a command (Shutdown).
func (c *session) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.SetReadDeadline(time.Now())
}

func (c *session) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.Close()
}

func (c *session) serve(ctx context.Context) {
	c.ctx = store.WithOrigin(ctx, c)
	defer c.end()
	if tc, ok := c.conn.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.log.Debug("pop3: TLS handshake failed", "err", err)
			return
		}
	}
	c.log.Debug("pop3: connected", "tls", c.isTLS)
	if err := c.reply("+OK %s POP3 server ready", c.srv.opts.Hostname); err != nil {
		return
	}
	for {
		line, err := c.readLine()
		switch {
		case errors.Is(err, errLineTooLong):
			if c.reply("-ERR line too long (at most %d octets)", maxLine) != nil {
				return
			}
			continue
		case err != nil:
			c.readFailed(err)
			return
		}
		cmd, err := parseCommand(line)
		if err != nil {
			if c.reply("-ERR %v", err) != nil {
				return
			}
			continue
		}
		if err := c.dispatch(cmd); err != nil {
			if !errors.Is(err, errQuit) {
				c.log.Debug("pop3: session ends", "err", err)
			}
			return
		}
	}
}

// readFailed reports why reading a command failed, to the client when it
// is still there.
func (c *session) readFailed(err error) {
	var ne net.Error
	switch {
	case c.srv.closing.Load():
		c.reply("-ERR [SYS/TEMP] server shutting down, try again later")
	case errors.As(err, &ne) && ne.Timeout():
		c.reply("-ERR autologout: idle for too long")
		c.log.Debug("pop3: idle timeout")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		c.log.Debug("pop3: read", "err", err)
	}
}

// end releases what the session holds. Without QUIT nothing is deleted.
func (c *session) end() {
	if c.seen != nil {
		c.seen.close()
	}
	if c.acct != nil {
		c.srv.unlock(c.acct.ID, c)
	}
	c.w.W.Flush() // the last reply; the client may be gone already
	c.closeConn()
}

var errLineTooLong = errors.New("line too long")

// readLine reads one command line without its line end. Before blocking it
// flushes pending replies, so pipelined commands (RFC 2449 PIPELINING) are
// answered in one write.
func (c *session) readLine() (string, error) {
	if c.r.Buffered() == 0 {
		if err := c.w.W.Flush(); err != nil {
			return "", fmt.Errorf("flush: %w", err)
		}
	}
	c.mu.Lock()
	c.conn.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
	c.mu.Unlock()
	// Checked after setting the deadline: Shutdown sets closing before it
	// moves deadlines to now, so one of the two stops this read.
	if c.srv.closing.Load() {
		return "", ErrServerClosed
	}
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = c.r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// reply writes a one-line reply. It is buffered until the client has no
// more commands in flight (readLine flushes).
func (c *session) reply(format string, args ...any) error {
	c.setWriteDeadline()
	fmt.Fprintf(c.w.W, format, args...)
	_, err := c.w.W.WriteString("\r\n")
	if err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}

func (c *session) setWriteDeadline() {
	c.mu.Lock()
	c.conn.SetWriteDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
	c.mu.Unlock()
}

// multiline writes "+OK first" then lines, dot-stuffed and terminated.
func (c *session) multiline(first string, lines []string) error {
	if err := c.reply("+OK %s", first); err != nil {
		return err
	}
	dw := c.w.DotWriter()
	bw := bufio.NewWriter(dw)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	if err := dw.Close(); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}
