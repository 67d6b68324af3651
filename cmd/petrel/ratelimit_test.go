package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnectionRateLimit: with smtp.max_connection_rate_per_ip = 3 (and
// loopback not exempt), the fourth connection in a minute from one address
// is refused on every mail listener, each in its protocol's words; the ones
// before are greeted. By default loopback is exempt: 10 connections go
// through.
func TestConnectionRateLimit(t *testing.T) {
	imapAddr, pop3Addr := freePort(t), freePort(t)
	in := newInstanceWith(t, instanceOpts{imapAddr: imapAddr,
		extra: fmt.Sprintf("pop3 = %q\n[smtp]\nmax_connection_rate_per_ip = 3\nconnection_rate_exempt = []\n", pop3Addr)})
	in.start() // its readiness probes use SMTP's tokens
	greet := func(addr string) string {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		return l
	}
	for _, tc := range []struct {
		name, addr, ok, refused string
		probed                  bool
	}{
		{"smtp", in.smtpAddr, "220 ", "421 Too many new connections from one address", true},
		{"imap", imapAddr, "* OK", "* BYE [UNAVAILABLE] Too many new connections from one address", false},
		{"pop3", pop3Addr, "+OK", "-ERR [SYS/TEMP] Too many new connections from one address", false},
	} {
		accepted := 0
		for i := range 5 {
			l := greet(tc.addr)
			if strings.HasPrefix(l, tc.ok) {
				accepted++
				continue
			}
			if !strings.HasPrefix(l, tc.refused) {
				t.Errorf("%s connection %d: %q, want %q…", tc.name, i+1, l, tc.refused)
			}
			break
		}
		if accepted > 3 || (!tc.probed && accepted != 3) {
			t.Errorf("%s: %d connections greeted before the refusal, want 3", tc.name, accepted)
		}
	}

	// With the default exemptions, loopback clients are not limited.
	imap2 := freePort(t)
	local := newInstanceWith(t, instanceOpts{imapAddr: imap2, extra: "[smtp]\nmax_connection_rate_per_ip = 3\n"})
	local.start()
	for i := range 10 {
		if l := greet(imap2); !strings.HasPrefix(l, "* OK") {
			t.Fatalf("loopback connection %d with the default exemptions: %q", i+1, l)
		}
	}
}
