package dnsguide

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Warnings says what is wrong with the set-up before any record is
// published, one sentence each with the fix: a hostname of one label (no
// one on the internet can resolve "vm."), an address the internet cannot
// reach (loopback, RFC 1918 private, RFC 4193 unique local, link-local),
// a domain that is not one of Petrel's (local is false), whose mail
// Petrel refuses, and a local domain without a DKIM key yet (dkim false).
// ips are the addresses the records would name, and those the hostname
// resolves to.
func Warnings(domain, hostname string, local, dkim bool, ips []net.IP) []string {
	var out []string
	host := strings.TrimSuffix(strings.ToLower(hostname), ".")
	if !strings.Contains(host, ".") {
		out = append(out, fmt.Sprintf("hostname %q is a single label, which no one on the internet can resolve: set hostname to the mail host's full DNS name, e.g. hostname = \"mx.%s\"", host, strings.TrimSuffix(domain, ".")))
	}
	if !local {
		out = append(out, fmt.Sprintf("%s is not one of Petrel's domains, so Petrel refuses its mail: add it to domains in the configuration first", strings.TrimSuffix(domain, ".")))
	} else if !dkim {
		out = append(out, fmt.Sprintf("%s has no DKIM key yet, so no DKIM record is listed: start petrel serve (it makes an RSA and an Ed25519 key for every local domain) or run petrel dkim keygen %s, then run this again", strings.TrimSuffix(domain, "."), strings.TrimSuffix(domain, ".")))
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok || seen[a.Unmap()] {
			continue
		}
		a = a.Unmap()
		seen[a] = true
		var kind string
		switch {
		case a.IsLoopback():
			kind = "a loopback address"
		case a.IsPrivate() && a.Is4():
			kind = "a private address (RFC 1918)"
		case a.IsPrivate():
			kind = "a unique local address (RFC 4193)"
		case a.IsLinkLocalUnicast():
			kind = "a link-local address"
		case a.IsUnspecified():
			kind = "the unspecified address"
		default:
			continue
		}
		out = append(out, fmt.Sprintf("%s is %s, which the internet cannot reach: publish the mail host's public address instead (the one your provider gives; behind NAT, forward port 25 to this host)", a, kind))
	}
	return out
}
