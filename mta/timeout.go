package mta

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// A read timeout ends the session: nothing the client sends after it is
// read. conn.go never runs a command line cut short by a timeout ("MAIL
// FROM:<a" from a client that trickles bytes) and answers 421 4.4.2; with
// timeoutConn under it, every read after the first timeout fails at once
// as well, so that after a timeout in DATA the rest of a stalled message
// body is never read as commands, and a handler that was reading is
// stopped (connTimedOut). RFC 5321 4.5.3.2 has the server give up on the
// connection at a timeout.

// timeoutListener wraps the connections of l in timeoutConn.
type timeoutListener struct{ net.Listener }

func (l timeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		// conn.go must see the *tls.Conn itself; ServeSubmissionTLS puts
		// timeoutConn under the TLS layer instead.
		return c, nil
	}
	return &timeoutConn{Conn: c}, nil
}

// timeoutConn makes a read timeout final, and lets the session hang up
// (hangUp) after its last reply.
type timeoutConn struct {
	net.Conn
	timedOut atomic.Bool
	hungUp   atomic.Bool
	// soft says the read deadline now set is not final (deadlineReader's
	// poll): a timeout then only hands on what has come.
	soft atomic.Bool
}

func (c *timeoutConn) Read(p []byte) (int, error) {
	if c.hungUp.Load() {
		return 0, io.EOF
	}
	if c.timedOut.Load() {
		return 0, timeoutError{}
	}
	n, err := c.Conn.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && !c.soft.Load() {
		c.timedOut.Store(true)
	}
	return n, err
}

// Write writes p, and closes the connection after it when the session has
// hung up: p is its last reply.
func (c *timeoutConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.hungUp.Load() {
		c.Conn.Close()
	}
	return n, err
}

// Unwrap returns the underlying connection.
func (c *timeoutConn) Unwrap() net.Conn { return c.Conn }

// timeoutError is a net.Error whose Timeout is true, so that conn.go
// answers 421 4.4.2 to it.
type timeoutError struct{}

func (timeoutError) Error() string   { return "read after an earlier timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// baseConn is the timeoutConn under c (and its TLS layer), or nil.
func baseConn(c net.Conn) *timeoutConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tc, _ := c.(*timeoutConn)
	return tc
}

// connTimedOut says whether a read on c (or under its TLS layer) has timed
// out: the command being handled was then cut short, not sent whole.
func connTimedOut(c net.Conn) bool {
	tc := baseConn(c)
	return tc != nil && tc.timedOut.Load()
}

// hangUp ends the session on c: nothing more is read from the client (a
// read says EOF at once, so conn.go's wait for the end of the data ends),
// and the connection is closed once the next reply is written.
func hangUp(c net.Conn) {
	if tc := baseConn(c); tc != nil {
		tc.hungUp.Store(true)
	}
}

// cutShort refuses a command that a read timeout cut short: it was not
// sent whole, and the session is about to end.
func (s *session) cutShort() *smtp.SMTPError {
	if connTimedOut(s.conn.Conn()) {
		return smtpErr(421, smtp.EnhancedCode{4, 4, 2}, "Timeout: the command was cut short, closing connection")
	}
	if tc := baseConn(s.conn.Conn()); tc != nil && tc.hungUp.Load() {
		// Commands the client pipelined after the data that ended the session.
		return smtpErr(421, smtp.EnhancedCode{4, 7, 0}, "Closing connection")
	}
	return nil
}
