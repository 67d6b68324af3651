package web

import (
	"net"
	"sync"
)

// CountConns reports each connection of l to the metrics while it is
// open (the connections gauge of proto).
func (m *Metrics) CountConns(l net.Listener, proto string) net.Listener {
	return &countingListener{Listener: l, m: m, proto: proto}
}

type countingListener struct {
	net.Listener
	m     *Metrics
	proto string
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, done: l.m.ConnOpened(l.proto)}, nil
}

type countedConn struct {
	net.Conn
	done func()
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// Unwrap returns the connection counted, so that the servers can reach its
// socket (internal/quickack sets TCP_QUICKACK on it).
func (c *countedConn) Unwrap() net.Conn { return c.Conn }
