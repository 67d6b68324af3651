package dnsmx

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// MX is one mail server of a domain, with its addresses.
type MX struct {
	Host  string // without the trailing dot
	Pref  uint16
	Addrs []net.IP // IPv4 first, then IPv6
}

// LookupMX returns the mail servers of domain in the order to try them:
// by preference, equal preferences shuffled (RFC 5321 section 5.1), each
// with its addresses. Hosts without addresses are left out.
//
// With no MX records the domain itself is the implicit MX, preference 0.
// A null MX ("MX 0 .", RFC 7505), NXDOMAIN, or no address for any host is a
// permanent *Error; SERVFAIL and timeouts a temporary one.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	ans, err := r.lookup(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var mxs []MX
	for _, rr := range ans.rrs {
		mx := rr.(*dns.MX)
		if mx.Mx == "." {
			// RFC 7505 section 3: a null MX means the domain accepts no
			// mail; there is no point in looking at any other record.
			return nil, &Error{Name: domain, Kind: KindNullMX}
		}
		mxs = append(mxs, MX{Host: strings.TrimSuffix(strings.ToLower(mx.Mx), "."), Pref: mx.Preference})
	}
	if len(mxs) == 0 {
		// RFC 5321 section 5.1: no MX, the domain is its own mail server.
		mxs = []MX{{Host: domain}}
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b MX) int { return int(a.Pref) - int(b.Pref) })

	out := mxs[:0]
	var temp error
	for _, mx := range mxs {
		addrs, err := r.LookupIP(ctx, mx.Host)
		if err != nil {
			if IsTemporary(err) && temp == nil {
				temp = err
			}
			continue
		}
		if len(addrs) > 0 {
			mx.Addrs = addrs
			out = append(out, mx)
		}
	}
	if len(out) == 0 {
		if temp != nil {
			return nil, temp
		}
		return nil, &Error{Name: domain, Kind: KindNoAddress}
	}
	return out, nil
}

// LookupA returns the A records of name (an empty list and no error when
// it has none), cached for their TTL; DNS block lists answer this way.
// A name that does not exist gives an *Error of KindNXDomain.
func (r *Resolver) LookupA(ctx context.Context, name string) ([]net.IP, error) {
	ans, err := r.lookup(ctx, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, rr := range ans.rrs {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A)
		}
	}
	return ips, nil
}

// LookupIP returns the A and then the AAAA addresses of host; a host
// without either gives an empty list and no error.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]net.IP, error) {
	var ips []net.IP
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := r.lookup(ctx, host, t)
		if err != nil {
			return nil, err
		}
		for _, rr := range ans.rrs {
			switch v := rr.(type) {
			case *dns.A:
				ips = append(ips, v.A)
			case *dns.AAAA:
				ips = append(ips, v.AAAA)
			}
		}
	}
	return ips, nil
}
