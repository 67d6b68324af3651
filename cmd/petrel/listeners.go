package main

import (
	"net"
	"sync"

	"petrel/netlimit"
	"petrel/web"
)

// countConns reports each connection of l to the metrics while it is open.
func countConns(l net.Listener, m *web.Metrics, proto string) net.Listener {
	return &countingListener{Listener: l, m: m, proto: proto}
}

type countingListener struct {
	net.Listener
	m     *web.Metrics
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

// rejectIMAP and rejectPOP3 answer a connection refused by netlimit (too
// many at once, or too many new ones from one address), with the reason.
func rejectIMAP(c net.Conn, why error) { netlimit.Reject(c, "* BYE [UNAVAILABLE]", why) }

func rejectPOP3(c net.Conn, why error) { netlimit.Reject(c, "-ERR [SYS/TEMP]", why) }
