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
// TCP_QUICKACK again after every read that returned data: the kernel then
// acknowledges what was read at once. The cost is one setsockopt(2) per
// read and a bare ACK segment where one would otherwise have ridden on the
// reply. Elsewhere than Linux, Conn only reads.
//
// Invariant: Conn changes nothing but acknowledgement timing; what is read
// and written, deadlines and Close are those of the connection it wraps.
package quickack

import (
	"net"
	"syscall"
)

// Conn is a net.Conn that acknowledges at once what each Read returned.
type Conn struct {
	net.Conn
	raw syscall.RawConn // nil when the connection has no socket
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

// Read reads from the connection, then, when it returned data, asks the
// kernel to acknowledge it now.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.raw.Control(setQuickAck)
	}
	return n, err
}

// Unwrap returns the underlying connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }
