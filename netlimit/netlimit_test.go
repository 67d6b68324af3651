package netlimit

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// action is one step of a scenario: dial from an address and expect the
// connection accepted or rejected, or close the n-th accepted connection
// (server side, twice, to check a double Close releases once).
type action struct {
	dialFrom string // 127.0.0.1 or 127.0.0.2
	accept   bool
	close    int // index into the accepted connections, when dialFrom is ""
	total    int // Count after the step
	fromIP   int // Count(dialFrom, or 127.0.0.1 for a close) after the step
}

func accepted(from string, total, fromIP int) action {
	return action{dialFrom: from, accept: true, total: total, fromIP: fromIP}
}

func rejected(from string, total, fromIP int) action {
	return action{dialFrom: from, total: total, fromIP: fromIP}
}

func closed(n, total, fromIP int) action { return action{close: n, total: total, fromIP: fromIP} }

func TestListener(t *testing.T) {
	const a, b = "127.0.0.1", "127.0.0.2"
	tests := []struct {
		name   string
		limits Limits
		steps  []action
	}{
		{name: "no limits", steps: []action{
			accepted(a, 1, 1), accepted(a, 2, 2), accepted(b, 3, 1), accepted(a, 4, 3),
		}},
		{name: "total", limits: Limits{Total: 2}, steps: []action{
			accepted(a, 1, 1), accepted(b, 2, 1), rejected(a, 2, 1), rejected(b, 2, 1),
			closed(0, 1, 0), accepted(a, 2, 1), rejected(b, 2, 1),
		}},
		{name: "per IP", limits: Limits{PerIP: 2}, steps: []action{
			accepted(a, 1, 1), accepted(a, 2, 2), rejected(a, 2, 2), accepted(b, 3, 1), accepted(b, 4, 2), rejected(b, 4, 2),
			closed(1, 3, 1), accepted(a, 4, 2), rejected(a, 4, 2),
		}},
		{name: "both", limits: Limits{Total: 3, PerIP: 2}, steps: []action{
			accepted(a, 1, 1), accepted(a, 2, 2), rejected(a, 2, 2), accepted(b, 3, 1), rejected(b, 3, 1),
			closed(0, 2, 1), accepted(b, 3, 2),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			rejects := make(chan string, 10)
			l := Wrap(inner, tc.limits, func(c net.Conn, why error) {
				if why != ErrBusy {
					t.Errorf("rejected for %v, want ErrBusy", why)
				}
				rejects <- hostOf(c.RemoteAddr())
				io.WriteString(c, "busy\r\n")
			})
			defer l.Close()
			conns := make(chan net.Conn, 10)
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					conns <- c
				}
			}()
			var got []net.Conn
			defer func() {
				for _, c := range got {
					c.Close()
				}
			}()
			for i, s := range tc.steps {
				ip := s.dialFrom
				if ip == "" {
					c := got[s.close]
					c.Close()
					c.Close() // releases once
					ip = a
				} else {
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
					cc, err := d.Dial("tcp", inner.Addr().String())
					if err != nil {
						t.Skipf("dial from %s: %v", ip, err)
					}
					defer cc.Close()
					if s.accept {
						select {
						case c := <-conns:
							got = append(got, c)
						case from := <-rejects:
							t.Fatalf("step %d: connection from %s rejected, want accepted", i, from)
						case <-time.After(5 * time.Second):
							t.Fatalf("step %d: connection from %s not accepted", i, ip)
						}
					} else {
						select {
						case c := <-conns:
							t.Fatalf("step %d: connection from %s accepted, want rejected", i, hostOf(c.RemoteAddr()))
						case from := <-rejects:
							if from != ip {
								t.Errorf("step %d: rejected %s, want %s", i, from, ip)
							}
						case <-time.After(5 * time.Second):
							t.Fatalf("step %d: connection from %s neither accepted nor rejected", i, ip)
						}
						// The client hears the reject reply, then EOF.
						cc.SetReadDeadline(time.Now().Add(5 * time.Second))
						if b, err := io.ReadAll(cc); string(b) != "busy\r\n" || err != nil {
							t.Errorf("step %d: rejected client read %q, %v", i, b, err)
						}
					}
				}
				if total, fromIP := l.Count(ip); total != s.total || fromIP != s.fromIP {
					t.Errorf("step %d: Count(%s) = %d, %d; want %d, %d", i, ip, total, fromIP, s.total, s.fromIP)
				}
			}
		})
	}
}

func TestUnwrap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(inner, Limits{}, nil)
	defer l.Close()
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			io.ReadAll(c)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, ok := c.(interface{ Unwrap() net.Conn })
	if !ok {
		t.Fatalf("%T has no Unwrap", c)
	}
	if _, ok := u.Unwrap().(*net.TCPConn); !ok {
		t.Errorf("Unwrap gave %T, want *net.TCPConn", u.Unwrap())
	}
}

type strAddr string

func (s strAddr) Network() string { return "test" }
func (s strAddr) String() string  { return string(s) }

func TestHostOf(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 25}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 25}, "2001:db8::1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 25}, "192.0.2.1"},
		{strAddr("198.51.100.7:993"), "198.51.100.7"},
		{strAddr("[2001:db8::2]:993"), "2001:db8::2"},
		{strAddr("@unix-socket"), "@unix-socket"},
	}
	for _, tc := range tests {
		if got := hostOf(tc.addr); got != tc.want {
			t.Errorf("hostOf(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// TestRate drives the token bucket with a fake clock: a burst of RatePerIP
// connections, then one per 60/RatePerIP seconds; each address has its own
// bucket; a refill never holds more than RatePerIP; no limit at 0.
func TestRate(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	type step struct {
		at    time.Duration // since the start
		ip    string
		allow bool
	}
	local := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.0.2.2/32")}
	tests := []struct {
		name   string
		rate   int
		exempt []netip.Prefix
		steps  []step
	}{
		{"exempt addresses", 1, local, []step{
			{0, b, true}, {0, b, true}, {0, "127.0.0.1", true}, {0, "127.0.0.1", true}, {0, "::1", true}, {0, "::1", true},
			{0, "::ffff:127.0.0.2", true}, {0, "::ffff:127.0.0.2", true}, {0, a, true}, {0, a, false},
		}},
		{"no limit", 0, nil, []step{{0, a, true}, {0, a, true}, {0, a, true}, {0, a, true}}},
		{"burst then refused", 3, nil, []step{{0, a, true}, {0, a, true}, {0, a, true}, {0, a, false}, {time.Second, a, false}}},
		{"addresses apart", 2, nil, []step{{0, a, true}, {0, a, true}, {0, a, false}, {0, b, true}, {0, b, true}, {0, b, false}}},
		{"refill one every 60/rate s", 3, nil, []step{
			{0, a, true}, {0, a, true}, {0, a, true}, {0, a, false},
			{19 * time.Second, a, false}, {20 * time.Second, a, true}, {21 * time.Second, a, false},
			{40 * time.Second, a, true}, {40 * time.Second, a, false},
		}},
		{"refill capped at the burst", 2, nil, []step{
			{0, a, true}, {10 * time.Minute, a, true}, {10 * time.Minute, a, true}, {10 * time.Minute, a, false},
		}},
		{"60 a minute", 60, nil, append(func() []step {
			var s []step
			for range 60 {
				s = append(s, step{0, a, true})
			}
			return s
		}(), step{0, a, false}, step{500 * time.Millisecond, a, false}, step{time.Second, a, true}, step{time.Second, a, false})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			l := Wrap(nil, Limits{RatePerIP: tc.rate, RateExempt: tc.exempt}, nil)
			for i, s := range tc.steps {
				if got := l.allowRate(s.ip, start.Add(s.at)); got != s.allow {
					t.Errorf("step %d (%v, %s): allowed %v, want %v", i, s.at, s.ip, got, s.allow)
				}
			}
		})
	}
}

// TestRateForgets: buckets that have refilled are dropped, so addresses
// seen once do not pile up.
func TestRateForgets(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	l := Wrap(nil, Limits{RatePerIP: 10}, nil)
	for i := range 1000 {
		l.allowRate(fmt.Sprintf("198.51.100.%d/%d", i%250, i), start)
	}
	if n := len(l.buckets); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	l.allowRate("192.0.2.9", start.Add(2*time.Minute))
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets two minutes later, want only the new address's", n)
	}
}

// TestRateOverSockets: a client over the rate gets the reject function with
// ErrRate (its reply, then EOF), is not counted as open, and is accepted
// again once its bucket refills.
func TestRateOverSockets(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rejects := make(chan error, 10)
	l := Wrap(inner, Limits{RatePerIP: 2}, func(c net.Conn, why error) {
		rejects <- why
		io.WriteString(c, "slow down\r\n")
	})
	var mu sync.Mutex
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	l.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	defer l.Close()
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	dial := func(wantAccepted bool) {
		t.Helper()
		cc, err := net.DialTimeout("tcp", inner.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		select {
		case c := <-conns:
			if !wantAccepted {
				t.Fatal("accepted, want refused for the rate")
			}
			defer c.Close()
		case why := <-rejects:
			if wantAccepted {
				t.Fatalf("refused (%v), want accepted", why)
			}
			if why != ErrRate {
				t.Errorf("refused for %v, want ErrRate", why)
			}
			cc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, err := io.ReadAll(cc); string(b) != "slow down\r\n" || err != nil {
				t.Errorf("refused client read %q, %v", b, err)
			}
			if total, _ := l.Count("127.0.0.1"); total != 0 {
				t.Errorf("a refused connection counted: %d open", total)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("neither accepted nor refused")
		}
	}
	dial(true)
	dial(true)
	dial(false)
	mu.Lock()
	now = now.Add(30 * time.Second) // one token back at 2 a minute
	mu.Unlock()
	dial(true)
	dial(false)
}
