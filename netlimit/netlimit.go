// Package netlimit bounds the connections a listener accepts: in all, and
// from one client address, so that one client cannot take every slot.
package netlimit

import (
	"net"
	"sync"
)

// Limits for one listener. Zero means no limit.
type Limits struct {
	Total int
	PerIP int
}

// Listener wraps a net.Listener. A connection over a limit is handed to
// Reject (which writes the protocol's "too busy" reply) and closed; Accept
// goes on with the next one.
type Listener struct {
	net.Listener
	limits Limits
	reject func(net.Conn)

	mu    sync.Mutex
	total int
	perIP map[string]int
}

// Wrap limits l. reject may be nil.
func Wrap(l net.Listener, limits Limits, reject func(net.Conn)) *Listener {
	return &Listener{Listener: l, limits: limits, reject: reject, perIP: make(map[string]int)}
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		over := (l.limits.Total > 0 && l.total >= l.limits.Total) ||
			(l.limits.PerIP > 0 && l.perIP[ip] >= l.limits.PerIP)
		if !over {
			l.total++
			l.perIP[ip]++
		}
		l.mu.Unlock()
		if over {
			go func() {
				if l.reject != nil {
					l.reject(c)
				}
				c.Close()
			}()
			continue
		}
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// Count returns the connections open now, in all and from ip.
func (l *Listener) Count(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perIP[ip]
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

type conn struct {
	net.Conn
	l    *Listener
	ip   string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// Unwrap returns the underlying connection.
func (c *conn) Unwrap() net.Conn { return c.Conn }

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
