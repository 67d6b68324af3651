// Package quickack makes a TCP connection acknowledge what it reads at
// once, instead of after the kernel's delayed-ACK timer (40 ms on Linux).
//
// A client that leaves Nagle's algorithm on (Python's imaplib and poplib,
// many others) holds a small write back until its previous one is
// acknowledged. When the server has nothing to answer in between, as
// while it reads an APPEND literal whose closing CRLF the client writes
// separately, the server's delayed ACK and the client's Nagle wait for
// each other, and every such command takes 40 ms. Linux leaves its
// quick-ACK mode by itself (an interactive connection, whose data is
// answered at once, is "ping-pong" and gets delayed ACKs), so Conn sets
// TCP_QUICKACK before a read whenever what it read last is still
// unanswered (nothing written since): the kernel then sends the pending ACK
// at once. The cost is one setsockopt(2) per such read (none while client
// and server take turns) and a bare ACK segment. Elsewhere than Linux, Conn
// only reads and writes.
//
// Invariant: Conn changes nothing but acknowledgement timing; what is read
// and written, deadlines and Close are those of the connection it wraps.
package quickack

import (
	"net"
	"sync/atomic"
	"syscall"
)

// Conn is a net.Conn that acknowledges at once what each Read returned.
type Conn struct {
	net.Conn
	raw syscall.RawConn // nil when the connection has no socket
	// unanswered: the last read returned data and nothing was written
	// since (Read and Write may run on different goroutines).
	unanswered atomic.Bool
	acks       atomic.Int64 // quick ACKs asked for (tests)
}

// Wrap returns c acknowledging its reads at once when it is a socket, or
// wraps one: a *net.TCPConn, anything else with SyscallConn, or a wrapper
// (connection counting, limits) whose Unwrap leads to one. Otherwise it
// returns c itself.
func Wrap(c net.Conn) net.Conn {
	for inner := c; inner != nil; {
		if sc, ok := inner.(syscall.Conn); ok {
			raw, err := sc.SyscallConn()
			if err != nil {
				return c
			}
			return &Conn{Conn: c, raw: raw}
		}
		u, ok := inner.(interface{ Unwrap() net.Conn })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	return c
}

// Read reads from the connection. When what the previous reads returned
// is still unanswered (nothing was written since: the server wants more
// of a command, as the CRLF after a literal), it first asks the kernel to
// acknowledge it now, because the client may be holding its next write
// until then; setting TCP_QUICKACK sends a pending ACK at once. A read that
// follows a reply needs nothing: the reply carried the ACK. So a client
// and server taking turns, command and reply, cost no system call beyond
// their reads and writes (a setsockopt after every read was 2 % of the
// server's CPU in IMAP's steady state).
func (c *Conn) Read(p []byte) (int, error) {
	if c.unanswered.Load() {
		c.raw.Control(setQuickAck)
		c.acks.Add(1)
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.unanswered.Store(true)
	}
	return n, err
}

// Write writes to the connection; what it sends carries the ACK of what
// was read.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.unanswered.Store(false)
	}
	return n, err
}

// Unwrap returns the underlying connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }
