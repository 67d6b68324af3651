package dnsbl

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"petrel/dnsmx"
	"petrel/dnsmx/dnsmxtest"
)

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.2":                 "2.0.0.127",
		"192.0.2.99":                "99.2.0.192",
		"::ffff:192.0.2.1":          "1.2.0.192",
		"2001:db8:1:2:3:4:567:89ab": "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2",
		"::1":                       "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
	} {
		got, ok := ReverseName(net.ParseIP(in))
		if !ok || got != want {
			t.Errorf("ReverseName(%s) = %q, want %q", in, got, want)
		}
	}
	if _, ok := ReverseName(nil); ok {
		t.Error("nil address reversed")
	}
}

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newChecker(t *testing.T, srv *dnsmxtest.Server, clock *testClock, opts Options) (*Checker, map[string]int) {
	t.Helper()
	r, err := dnsmx.New(srv.Addr, dnsmx.WithClock(clock.Now), dnsmx.WithTimeout(300*time.Millisecond), dnsmx.WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	var mu sync.Mutex
	opts.Resolver = r
	opts.OnResult = func(zone, result string) {
		mu.Lock()
		results[zone+" "+result]++
		mu.Unlock()
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, results
}

// TestCheck: listings, "not listed" answers, weights and allow lists,
// IPv4 and IPv6, against the test DNS server.
func TestCheck(t *testing.T) {
	srv := dnsmxtest.Start(t,
		"2.0.0.127.bl.test. 300 IN A 127.0.0.2",
		"2.0.0.127.half1.test. 300 IN A 127.0.0.3",
		"2.0.0.127.half2.test. 300 IN A 127.0.0.4",
		"3.0.0.127.bl.test. 300 IN A 127.255.255.254", // Spamhaus's "public resolver" error
		"4.0.0.127.bl.test. 300 IN A 10.0.0.1",        // not in 127/8: a hijacked answer
		"5.0.0.127.bl.test. 300 IN A 127.0.0.9",
		"5.0.0.127.wl.test. 300 IN A 127.0.10.1",
		"6.0.0.127.bl.test. 300 IN A 127.0.0.10",
		"6.0.0.127.custom.test. 300 IN A 127.0.0.10", // "not listed" for custom.test
		"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test. 300 IN A 127.0.0.2",
	)
	srv.ServFail("7.0.0.127.bl.test.")
	clock := &testClock{now: time.Unix(1e9, 0)}
	c, results := newChecker(t, srv, clock, Options{
		Block: []Zone{{Name: "bl.test"}, {Name: "half1.test", Weight: 0.5}, {Name: "half2.test", Weight: 0.5},
			{Name: "custom.test", NotListed: []netip.Addr{netip.MustParseAddr("127.0.0.10")}}},
		Allow: []Zone{{Name: "wl.test"}},
	})
	tests := []struct {
		ip       string
		listed   bool
		blocking string
		score    float64
	}{
		{"127.0.0.2", true, "bl.test, half1.test, half2.test", 2},
		{"127.0.0.3", false, "", 0},
		{"127.0.0.4", false, "", 0},
		{"127.0.0.5", false, "bl.test", 0},
		{"127.0.0.6", true, "bl.test", 1},
		{"127.0.0.7", false, "", 0},
		{"127.0.0.8", false, "", 0},
		{"2001:db8:1:2:3:4:567:89ab", true, "bl.test", 1},
		{"2001:db8::1", false, "", 0},
	}
	for _, tc := range tests {
		res := c.Check(context.Background(), net.ParseIP(tc.ip))
		if res.Listed() != tc.listed || res.Blocking() != tc.blocking || res.Score != tc.score {
			t.Errorf("%s: listed %v blocking %q score %v (%s); want %v %q %v", tc.ip, res.Listed(), res.Blocking(), res.Score, res.Summary(), tc.listed, tc.blocking, tc.score)
		}
	}
	if got := c.Check(context.Background(), net.ParseIP("127.0.0.5")).Summary(); got != "bl.test=127.0.0.9, wl.test=127.0.10.1 (allow); score=0" {
		t.Errorf("summary %q", got)
	}
	if results["bl.test error"] != 1 || results["bl.test listed"] != 5 {
		t.Errorf("results %v", results)
	}
}

// TestCacheTTL: an answer, listed or not, is asked once per TTL.
func TestCacheTTL(t *testing.T) {
	srv := dnsmxtest.Start(t, "2.0.0.127.bl.test. 300 IN A 127.0.0.2")
	clock := &testClock{now: time.Unix(1e9, 0)}
	c, _ := newChecker(t, srv, clock, Options{Block: []Zone{{Name: "bl.test"}}})
	listed, clean := net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.3")
	for range 3 {
		if !c.Check(context.Background(), listed).Listed() || c.Check(context.Background(), clean).Listed() {
			t.Fatal("wrong answer")
		}
	}
	if n, m := srv.Queries("2.0.0.127.bl.test", "A"), srv.Queries("3.0.0.127.bl.test", "A"); n != 1 || m != 1 {
		t.Errorf("asked %d and %d times within the TTL, want 1", n, m)
	}
	clock.add(301 * time.Second)
	c.Check(context.Background(), listed)
	if n := srv.Queries("2.0.0.127.bl.test", "A"); n != 2 {
		t.Errorf("asked %d times after the TTL, want 2", n)
	}
}

// TestSilentList: a list that never answers does not hold up the check
// past its timeout, and does not list the host.
func TestSilentList(t *testing.T) {
	srv := dnsmxtest.Start(t)
	srv.Silent("2.0.0.127.slow.test.")
	clock := &testClock{now: time.Unix(1e9, 0)}
	c, _ := newChecker(t, srv, clock, Options{Block: []Zone{{Name: "slow.test"}}, Timeout: 500 * time.Millisecond})
	start := time.Now()
	if c.Check(context.Background(), net.ParseIP("127.0.0.2")).Listed() {
		t.Error("listed by a silent list")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestOptions(t *testing.T) {
	r, _ := dnsmx.New("127.0.0.1:53")
	for _, o := range []Options{
		{Resolver: r, Action: "bounce"},
		{Resolver: r, Block: []Zone{{Name: "bad zone"}}},
		{Block: []Zone{{Name: "ok.test"}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
