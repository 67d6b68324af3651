// Package netlimit bounds the connections a listener accepts: in all, and
// from one client address, so that one client cannot take every slot; and
// how fast one client address may open new ones.
package netlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limits for one listener. Zero means no limit.
type Limits struct {
	Total int
	PerIP int
	// RatePerIP is how many connections one client address may open a
	// minute: a token bucket per address that holds RatePerIP tokens and
	// refills at RatePerIP a minute, so a burst of RatePerIP is allowed, then
	// one every 60/RatePerIP seconds.
	RatePerIP int
	// RateExempt are the client addresses RatePerIP does not apply to (as
	// Postfix exempts $mynetworks from its rate limits): local programs, a
	// webmail on the same host.
	RateExempt []netip.Prefix
}

// The reasons a connection is refused, given to the reject function.
var (
	ErrBusy = errors.New("too many connections")
	ErrRate = errors.New("too many new connections from one address")
)

// Listener wraps a net.Listener. A connection over a limit is handed to
// Reject (which writes the protocol's "too busy" reply, by the reason) and
// closed; Accept goes on with the next one.
type Listener struct {
	net.Listener
	limits Limits
	reject func(net.Conn, error)
	now    func() time.Time

	mu        sync.Mutex
	total     int
	perIP     map[string]int
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket is one address's token bucket for RatePerIP.
type bucket struct {
	tokens float64
	last   time.Time
}

// Wrap limits l. reject may be nil.
func Wrap(l net.Listener, limits Limits, reject func(c net.Conn, why error)) *Listener {
	return &Listener{Listener: l, limits: limits, reject: reject, now: time.Now,
		perIP: make(map[string]int), buckets: make(map[string]*bucket)}
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
		var why error
		switch {
		case (l.limits.Total > 0 && l.total >= l.limits.Total) ||
			(l.limits.PerIP > 0 && l.perIP[ip] >= l.limits.PerIP):
			why = ErrBusy
		case !l.allowRate(ip, l.now()):
			why = ErrRate
		default:
			l.total++
			l.perIP[ip]++
		}
		l.mu.Unlock()
		if why != nil {
			go func() {
				if l.reject != nil {
					l.reject(c, why)
				}
				c.Close()
			}()
			continue
		}
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// allowRate takes a token from ip's bucket, if it has one. A connection
// refused for another reason takes none. Buckets that have refilled are
// dropped once a minute, so the map holds only recent addresses. Called
// with l.mu held.
func (l *Listener) allowRate(ip string, now time.Time) bool {
	rate := float64(l.limits.RatePerIP)
	if rate <= 0 || l.exempt(ip) {
		return true
	}
	if now.Sub(l.lastSweep) >= time.Minute {
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.last).Minutes()*rate >= rate {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[ip]
	if b == nil {
		b = &bucket{tokens: rate, last: now}
		l.buckets[ip] = b
	} else if now.After(b.last) {
		b.tokens = min(rate, b.tokens+now.Sub(b.last).Minutes()*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// exempt says whether ip is in RateExempt.
func (l *Listener) exempt(ip string) bool {
	if len(l.limits.RateExempt) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range l.limits.RateExempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
