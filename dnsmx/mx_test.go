package dnsmx_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"petrel/dnsmx"
	"petrel/dnsmx/dnsmxtest"
)

func zone(t *testing.T) *dnsmxtest.Server {
	srv := dnsmxtest.Start(t,
		"pref.test. 300 IN MX 20 b.pref.test.",
		"pref.test. 300 IN MX 10 a.pref.test.",
		"a.pref.test. 300 IN A 127.0.0.2",
		"b.pref.test. 300 IN A 127.0.0.3",
		"b.pref.test. 300 IN AAAA ::1",
		"implicit.test. 300 IN A 127.0.0.4",
		"null.test. 300 IN MX 0 .",
		"alias.test. 300 IN CNAME mid.test.",
		"mid.test. 300 IN CNAME real.test.",
		"real.test. 300 IN MX 10 mxalias.real.test.",
		"mxalias.real.test. 300 IN CNAME host.real.test.",
		"host.real.test. 300 IN A 127.0.0.5",
		"loop1.test. 300 IN CNAME loop2.test.",
		"loop2.test. 300 IN CNAME loop1.test.",
		"halfdead.test. 300 IN MX 10 gone.halfdead.test.",
		"halfdead.test. 300 IN MX 20 live.halfdead.test.",
		"live.halfdead.test. 300 IN A 127.0.0.6",
		"dead.test. 300 IN MX 10 gone.dead.test.",
		"noaddr.test. 300 IN TXT \"no mail here\"",
		"broken.test. 300 IN MX 10 mx.broken.test.",
		"slowmx.test. 300 IN MX 10 mx.slowmx.test.",
	)
	srv.ServFail("servfail.test.")
	srv.ServFail("mx.broken.test.")
	srv.Silent("silent.test.")
	return srv
}

func TestLookupMX(t *testing.T) {
	srv := zone(t)
	r, err := dnsmx.New(srv.Addr, dnsmx.WithTimeout(time.Second), dnsmx.WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		domain string
		hosts  []string // expected order
		addrs  [][]string
		kind   dnsmx.Kind // expected error kind, 0 for none
		temp   bool
	}{
		{name: "preference order", domain: "pref.test", hosts: []string{"a.pref.test", "b.pref.test"},
			addrs: [][]string{{"127.0.0.2"}, {"127.0.0.3", "::1"}}},
		{name: "trailing dot and case", domain: "PREF.test.", hosts: []string{"a.pref.test", "b.pref.test"}},
		{name: "implicit MX from A", domain: "implicit.test", hosts: []string{"implicit.test"}, addrs: [][]string{{"127.0.0.4"}}},
		{name: "CNAME chains to domain and host", domain: "alias.test", hosts: []string{"mxalias.real.test"}, addrs: [][]string{{"127.0.0.5"}}},
		{name: "MX host without address skipped", domain: "halfdead.test", hosts: []string{"live.halfdead.test"}},
		{name: "null MX", domain: "null.test", kind: dnsmx.KindNullMX},
		{name: "NXDOMAIN", domain: "nonexistent.test", kind: dnsmx.KindNXDomain},
		{name: "no MX and no address", domain: "noaddr.test", kind: dnsmx.KindNoAddress},
		{name: "only host NXDOMAIN", domain: "dead.test", kind: dnsmx.KindNoAddress},
		{name: "CNAME loop", domain: "loop1.test", kind: dnsmx.KindCNAMELoop},
		{name: "SERVFAIL", domain: "servfail.test", kind: dnsmx.KindServFail, temp: true},
		{name: "SERVFAIL of the only host", domain: "broken.test", kind: dnsmx.KindServFail, temp: true},
		{name: "timeout", domain: "silent.test", kind: dnsmx.KindNetwork, temp: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mxs, err := r.LookupMX(context.Background(), tc.domain)
			if tc.kind != 0 {
				var de *dnsmx.Error
				if !errors.As(err, &de) {
					t.Fatalf("LookupMX = %v, %v; want a *dnsmx.Error", mxs, err)
				}
				if de.Kind != tc.kind || de.Temporary() != tc.temp || dnsmx.IsTemporary(err) != tc.temp {
					t.Fatalf("error %v: kind %v temporary %v, want %v %v", err, de.Kind, de.Temporary(), tc.kind, tc.temp)
				}
				return
			}
			if err != nil {
				t.Fatalf("LookupMX: %v", err)
			}
			var hosts []string
			for _, mx := range mxs {
				hosts = append(hosts, mx.Host)
			}
			if !slices.Equal(hosts, tc.hosts) {
				t.Fatalf("hosts %v, want %v", hosts, tc.hosts)
			}
			for i, want := range tc.addrs {
				var got []string
				for _, ip := range mxs[i].Addrs {
					got = append(got, ip.String())
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s addrs %v, want %v", mxs[i].Host, got, want)
				}
			}
		})
	}
}

func TestEqualPreferenceShuffled(t *testing.T) {
	srv := dnsmxtest.Start(t,
		"eq.test. 300 IN MX 10 one.eq.test.",
		"eq.test. 300 IN MX 10 two.eq.test.",
		"eq.test. 300 IN MX 5 first.eq.test.",
		"one.eq.test. 300 IN A 127.0.0.2",
		"two.eq.test. 300 IN A 127.0.0.3",
		"first.eq.test. 300 IN A 127.0.0.4",
	)
	r, err := dnsmx.New(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 64 {
		mxs, err := r.LookupMX(context.Background(), "eq.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(mxs) != 3 || mxs[0].Host != "first.eq.test" {
			t.Fatalf("got %+v, want first.eq.test first of 3", mxs)
		}
		seen[mxs[1].Host] = true
	}
	if !seen["one.eq.test"] || !seen["two.eq.test"] {
		t.Fatalf("equal preferences never swapped in 64 lookups: %v", seen)
	}
}

func TestCacheHonoursTTL(t *testing.T) {
	srv := dnsmxtest.Start(t,
		"c.test. 100 IN MX 10 mx.c.test.",
		"mx.c.test. 300 IN A 127.0.0.2",
	)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, err := dnsmx.New(srv.Addr, dnsmx.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lookup := func() {
		t.Helper()
		if _, err := r.LookupMX(ctx, "c.test"); err != nil {
			t.Fatal(err)
		}
	}
	lookup()
	lookup()
	if n := srv.Queries("c.test", "MX"); n != 1 {
		t.Fatalf("MX asked %d times within TTL, want 1", n)
	}
	now = now.Add(101 * time.Second)
	lookup()
	if n := srv.Queries("c.test", "MX"); n != 2 {
		t.Fatalf("MX asked %d times after TTL, want 2", n)
	}
	if n := srv.Queries("mx.c.test", "A"); n != 1 {
		t.Fatalf("A asked %d times within its longer TTL, want 1", n)
	}

	// NXDOMAIN is cached for the SOA minimum (30s in dnsmxtest).
	for range 2 {
		if _, err := r.LookupMX(ctx, "gone.test"); err == nil {
			t.Fatal("gone.test resolved")
		}
	}
	if n := srv.Queries("gone.test", "MX"); n != 1 {
		t.Fatalf("NXDOMAIN asked %d times, want 1 (cached)", n)
	}
	now = now.Add(31 * time.Second)
	r.LookupMX(ctx, "gone.test")
	if n := srv.Queries("gone.test", "MX"); n != 2 {
		t.Fatalf("NXDOMAIN asked %d times after negative TTL, want 2", n)
	}
}

func TestTemporaryNotCached(t *testing.T) {
	srv := dnsmxtest.Start(t, "flaky.test. 300 IN MX 10 mx.flaky.test.", "mx.flaky.test. 300 IN A 127.0.0.2")
	srv.ServFail("flaky.test")
	r, err := dnsmx.New(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupMX(context.Background(), "flaky.test"); !dnsmx.IsTemporary(err) {
		t.Fatalf("want temporary error, got %v", err)
	}
	// The server recovers: the failure must not have been cached.
	srv.ServFailClear("flaky.test")
	if _, err := r.LookupMX(context.Background(), "flaky.test"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	srv := dnsmxtest.Start(t)
	srv.Silent("hang.test")
	r, err := dnsmx.New(srv.Addr, dnsmx.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.LookupMX(ctx, "hang.test")
	if !dnsmx.IsTemporary(err) {
		t.Fatalf("want temporary error, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("lookup ignored the context for %v", d)
	}
}

func TestNewServer(t *testing.T) {
	if _, err := dnsmx.New("127.0.0.1"); err != nil {
		t.Fatalf("New without port: %v", err)
	}
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		t.Skip("no /etc/resolv.conf")
	}
	if _, err := dnsmx.New(""); err != nil {
		t.Fatalf("New from resolv.conf: %v", err)
	}
}
