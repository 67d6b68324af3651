package dnsguide

import (
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// dnsReverse is dns.ReverseAddr, kept in one place so the rest of the
// package depends on the standard library only.
func dnsReverse(ip string) (string, error) { return dns.ReverseAddr(ip) }

// reverseIP turns a PTR owner name back into the address text, e.g.
// "4.3.2.1.in-addr.arpa." into "1.2.3.4".
func reverseIP(name string) string {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if v4, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		p := strings.Split(v4, ".")
		slices.Reverse(p)
		return strings.Join(p, ".")
	}
	if v6, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		nib := strings.Split(v6, ".")
		slices.Reverse(nib)
		var b strings.Builder
		for i, n := range nib {
			if i > 0 && i%4 == 0 {
				b.WriteByte(':')
			}
			b.WriteString(n)
		}
		if ip := net.ParseIP(b.String()); ip != nil {
			return ip.String()
		}
	}
	return name
}
