package msgauth

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// normalizeDomain returns d in the form used for DNS queries and comparisons
// (lower case, A-labels, no trailing dot) and whether it is a multi-label
// host name at all. RFC 7208 section 4.3: a malformed or single-label domain
// gives SPF "none" without any lookup, and the same rule keeps junk out of
// DMARC and DKIM queries. Internationalized (U-label) names are refused
// too: converting them needs golang.org/x/text, which Petrel does not carry,
// and they are valid in MAIL FROM only under SMTPUTF8.
func normalizeDomain(d string) (string, bool) {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 253 {
		return "", false
	}
	d = strings.ToLower(d)
	if len(d) > 253 {
		return "", false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return d, true
}

// splitAddress splits an RFC 5321 path (with or without angle brackets) into
// local part and domain. The last "@" separates them, because a quoted local
// part may hold one.
func splitAddress(addr string) (local, domain string) {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimPrefix(addr, "<")
	addr = strings.TrimSuffix(addr, ">")
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// orgDomain is the organizational domain of d (RFC 7489 section 3.2): the
// public suffix plus one label, from the compiled-in public suffix list.
// A name that is itself a public suffix is its own organizational domain.
func orgDomain(d string) string {
	od, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return od
}

// aligned reports whether the authenticated domain auth is aligned with the
// From domain from under mode "s" (equal) or "r" (same organizational
// domain), RFC 7489 section 3.1. Both are normalized.
func aligned(from, auth string, strict bool) bool {
	if auth == "" {
		return false
	}
	if strict {
		return from == auth
	}
	return orgDomain(from) == orgDomain(auth)
}
