package msgauth

import (
	"context"
	"errors"
	"net"

	"blitiri.com.ar/go/spf"
)

// SPFOutcome is the SPF result for one message (RFC 7208 section 2.6).
type SPFOutcome struct {
	// Result is none, neutral, pass, fail, softfail, temperror or permerror.
	Result string
	// Identity is "mailfrom", or "helo" when MAIL FROM was null (RFC 7208
	// section 2.4).
	Identity string
	// Domain is the domain checked, normalized; empty if there was none.
	Domain string
	// Sender is the address the check was made for (postmaster@HELO for a
	// null sender); it goes in the header as smtp.mailfrom.
	Sender string
	// Err explains the result for logs; it is not for clients.
	Err error
}

// checkSPF runs check_host() for the MAIL FROM domain, or for the HELO name
// when MAIL FROM is null or has no domain.
func checkSPF(ctx context.Context, r Resolver, ip net.IP, helo, mailFrom string) SPFOutcome {
	out := SPFOutcome{Result: string(spf.None), Identity: "mailfrom"}
	local, domain := splitAddress(mailFrom)
	if domain == "" {
		out.Identity = "helo"
		local, domain = "postmaster", helo
	}
	d, ok := normalizeDomain(domain)
	if !ok {
		out.Err = errors.New("no valid domain to check")
		return out
	}
	out.Domain = d
	if local == "" {
		local = "postmaster" // RFC 7208 section 4.3
	}
	out.Sender = local + "@" + d
	if ip.To16() == nil {
		out.Err = errors.New("no client IP address")
		return out
	}
	heloDomain, _ := normalizeDomain(helo)
	res, err := spf.CheckHostWithSender(ip, heloDomain, out.Sender,
		spf.WithContext(ctx), spf.WithResolver(r))
	out.Result = string(res)
	if err != nil && res != spf.Pass && res != spf.Fail && res != spf.SoftFail && res != spf.Neutral {
		out.Err = err
	}
	return out
}
