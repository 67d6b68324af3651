package netlimit

import (
	"io"
	"net"
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
			l := Wrap(inner, tc.limits, func(c net.Conn) {
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
