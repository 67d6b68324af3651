package dnsguide

import (
	"net"
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	ips := func(s ...string) []net.IP {
		var out []net.IP
		for _, x := range s {
			out = append(out, net.ParseIP(x))
		}
		return out
	}
	cases := []struct {
		name, domain, host string
		local, dkim        bool
		ips                []net.IP
		want               []string // one substring per warning, in order
	}{
		{"all right", "example.com", "mx.example.com", true, true, ips("192.0.2.25", "2001:db8::25"), nil},
		{"single label", "example.com", "vm", true, true, ips("192.0.2.25"), []string{`hostname "vm" is a single label`}},
		{"single label with dot", "example.com", "vm.", true, true, nil, []string{`hostname "vm" is a single label`}},
		{"not local", "example.org", "mx.example.com", false, true, nil, []string{"example.org is not one of Petrel's domains"}},
		{"private", "example.com", "mx.example.com", true, true, ips("10.1.2.3", "192.168.1.5", "172.16.0.1"), []string{"10.1.2.3 is a private address", "192.168.1.5 is a private", "172.16.0.1 is a private"}},
		{"ula", "example.com", "mx.example.com", true, true, ips("fd00::25"), []string{"fd00::25 is a unique local address"}},
		{"loopback", "example.com", "mx.example.com", true, true, ips("127.0.1.1", "::1"), []string{"127.0.1.1 is a loopback address", "::1 is a loopback"}},
		{"link-local", "example.com", "mx.example.com", true, true, ips("fe80::1"), []string{"fe80::1 is a link-local"}},
		{"mapped, once", "example.com", "mx.example.com", true, true, ips("10.0.0.1", "::ffff:10.0.0.1"), []string{"10.0.0.1 is a private"}},
		{"everything", "other.net", "vm", false, true, ips("10.0.0.1"), []string{"single label", "not one of Petrel's domains", "10.0.0.1 is a private"}},
		{"no DKIM key", "example.com", "mx.example.com", true, false, nil, []string{"example.com has no DKIM key yet"}},
		{"no DKIM key, not local: one warning", "other.net", "mx.example.com", false, false, nil, []string{"not one of Petrel's domains"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Warnings(c.domain, c.host, c.local, c.dkim, c.ips)
			if len(got) != len(c.want) {
				t.Fatalf("Warnings = %q, want %d warnings like %q", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}
