package main

import (
	"io"
	"net"
	"sync"
	"time"

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

// Unwrap returns the connection counted, so that the servers can reach its
// socket (internal/quickack sets TCP_QUICKACK on it).
func (c *countedConn) Unwrap() net.Conn { return c.Conn }

// rejectIMAP and rejectPOP3 answer a connection refused by netlimit (too
// many at once, or too many new ones from one address), with the reason.
func rejectIMAP(c net.Conn, why error) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "* BYE [UNAVAILABLE] "+reason(why)+", try again later\r\n")
}

func rejectPOP3(c net.Conn, why error) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "-ERR [SYS/TEMP] "+reason(why)+", try again later\r\n")
}

// reason is why's text with a capital first letter.
func reason(why error) string {
	s := why.Error()
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
