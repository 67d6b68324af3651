package pop3_test

import (
	"net"
	"syscall"
)

// quickAckListener acknowledges every read at once. fetchmail writes an
// SMTP DATA body line by line, so with Nagle on its side and delayed ACKs
// on ours each message would wait 40 ms for its final ".CRLF"; the test
// sink is not what is being measured.
type quickAckListener struct{ net.Listener }

func (l quickAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &quickAckConn{TCPConn: tc}, nil
	}
	return c, nil
}

type quickAckConn struct{ *net.TCPConn }

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if raw, rerr := c.TCPConn.SyscallConn(); rerr == nil {
		raw.Control(func(fd uintptr) {
			// Linux clears quick-ACK mode by itself, so it is set again
			// after every read.
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}
