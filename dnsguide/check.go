package dnsguide

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"blitiri.com.ar/go/spf"
)

// Resolver is the part of *net.Resolver that Check uses.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Status is the verdict on one record.
type Status string

// The verdicts.
const (
	StatusOK      Status = "ok"
	StatusMissing Status = "missing"
	StatusWrong   Status = "wrong"
	StatusFailed  Status = "failed" // the lookup itself failed (timeout, SERVFAIL)
)

// Finding is what Check found for one record.
type Finding struct {
	Status Status
	Record Record // the record that should be published
	Detail string // what was found
	Fix    string // what to do; empty when Status is OK
}

// String is the finding as the one line `petrel dns check` prints.
func (f Finding) String() string {
	s := fmt.Sprintf("%-7s %-5s %s %s", f.Status, f.Record.Type, f.Record.Name, f.Detail)
	if f.Fix != "" {
		s += "; fix: " + f.Fix
	}
	return s
}

// Check looks up every record Records lists for domain and says, one
// Finding each, whether what is published is right.
func Check(ctx context.Context, r Resolver, domain, hostname string, ips []net.IP, dkim func(domain string) (string, bool)) []Finding {
	c := &checker{ctx: ctx, r: r, domain: fqdn(domain), host: fqdn(hostname), ips: ips}
	var out []Finding
	for _, rec := range Records(domain, hostname, ips, dkim) {
		f := c.check(rec)
		f.Record = rec
		if f.Status != StatusOK && f.Fix == "" {
			f.Fix = "publish " + rec.String()
		}
		out = append(out, f)
	}
	return out
}

type checker struct {
	ctx    context.Context
	r      Resolver
	domain string
	host   string
	ips    []net.IP
	// hostAddrs caches the hostname's addresses for the CNAME checks.
	hostAddrs []net.IP
	hostErr   error
	hostDone  bool
}

func (c *checker) check(rec Record) Finding {
	switch {
	case rec.Type == "MX":
		return c.mx()
	case rec.Type == "A" || rec.Type == "AAAA":
		return c.address(rec)
	case rec.Type == "PTR":
		return c.ptr(rec)
	case rec.Type == "CNAME":
		return c.alias(rec)
	case rec.Type == "SRV":
		return c.srv(rec)
	case strings.HasPrefix(rec.Value, "v=spf1"):
		return c.spf(rec)
	case strings.Contains(rec.Name, "._domainkey."):
		return c.dkim(rec)
	default:
		return c.txt(rec)
	}
}

// lookupFailure turns a lookup error into Missing (the name or type does
// not exist) or Failed.
func lookupFailure(name string, err error) Finding {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return Finding{Status: StatusMissing, Detail: "not published"}
	}
	return Finding{Status: StatusFailed, Detail: fmt.Sprintf("lookup failed: %v", err), Fix: "check the resolver and the domain's name servers, then run the check again"}
}

func sameName(a, b string) bool { return strings.EqualFold(fqdn(a), fqdn(b)) }

func (c *checker) mx() Finding {
	mxs, err := c.r.LookupMX(c.ctx, c.domain)
	if err != nil {
		return lookupFailure(c.domain, err)
	}
	var hosts []string
	for _, mx := range mxs {
		if mx.Host == "." || mx.Host == "" {
			return Finding{Status: StatusWrong, Detail: "is a null MX (RFC 7505): the domain refuses all mail", Fix: "replace it with " + c.domain + " IN MX 10 " + c.host}
		}
		if sameName(mx.Host, c.host) {
			return Finding{Status: StatusOK, Detail: fmt.Sprintf("%d %s", mx.Pref, mx.Host)}
		}
		hosts = append(hosts, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
	}
	if len(hosts) == 0 {
		return Finding{Status: StatusMissing, Detail: "not published"}
	}
	return Finding{Status: StatusWrong, Detail: "points at " + strings.Join(hosts, ", "), Fix: "replace it with " + c.domain + " IN MX 10 " + c.host}
}

func (c *checker) hostIPs() ([]net.IP, error) {
	if !c.hostDone {
		c.hostDone = true
		addrs, err := c.r.LookupIPAddr(c.ctx, c.host)
		c.hostErr = err
		for _, a := range addrs {
			c.hostAddrs = append(c.hostAddrs, a.IP)
		}
	}
	return c.hostAddrs, c.hostErr
}

func (c *checker) address(rec Record) Finding {
	want := net.ParseIP(rec.Value)
	got, err := c.hostIPs()
	if err != nil {
		return lookupFailure(rec.Name, err)
	}
	var same []string
	for _, ip := range got {
		if ip.Equal(want) {
			return Finding{Status: StatusOK, Detail: ip.String()}
		}
		if (ip.To4() != nil) == (want.To4() != nil) {
			same = append(same, ip.String())
		}
	}
	if len(same) == 0 {
		return Finding{Status: StatusMissing, Detail: "not published"}
	}
	return Finding{Status: StatusWrong, Detail: "is " + strings.Join(same, ", "), Fix: "replace it with " + rec.String()}
}

func (c *checker) ptr(rec Record) Finding {
	ip := reverseIP(rec.Name)
	names, err := c.r.LookupAddr(c.ctx, ip)
	if err != nil {
		f := lookupFailure(rec.Name, err)
		if f.Status == StatusMissing {
			f.Fix = "ask your hosting provider to set the reverse DNS of " + ip + " to " + c.host
		}
		return f
	}
	for _, n := range names {
		if sameName(n, c.host) {
			return Finding{Status: StatusOK, Detail: n}
		}
	}
	return Finding{Status: StatusWrong, Detail: "is " + strings.Join(names, ", "), Fix: "ask your hosting provider to set the reverse DNS of " + ip + " to " + c.host}
}

// alias accepts a CNAME to the host, or addresses that are the host's.
func (c *checker) alias(rec Record) Finding {
	if cname, err := c.r.LookupCNAME(c.ctx, rec.Name); err == nil && sameName(cname, c.host) {
		return Finding{Status: StatusOK, Detail: "-> " + cname}
	}
	addrs, err := c.r.LookupIPAddr(c.ctx, rec.Name)
	if err != nil {
		return lookupFailure(rec.Name, err)
	}
	hostIPs, _ := c.hostIPs()
	var other []string
	for _, a := range addrs {
		if !slices.ContainsFunc(hostIPs, a.IP.Equal) {
			other = append(other, a.IP.String())
		}
	}
	if len(addrs) > 0 && len(other) == 0 {
		return Finding{Status: StatusOK, Detail: "has the mail host's addresses"}
	}
	return Finding{Status: StatusWrong, Detail: "points at " + strings.Join(other, ", ") + ", not " + c.host, Fix: "replace it with " + rec.String()}
}

func (c *checker) srv(rec Record) Finding {
	service, rest, _ := strings.Cut(strings.TrimPrefix(rec.Name, "_"), "._tcp.")
	var prio, weight, port int
	var target string
	fmt.Sscanf(rec.Value, "%d %d %d %s", &prio, &weight, &port, &target)
	_, srvs, err := c.r.LookupSRV(c.ctx, service, "tcp", rest)
	if err != nil {
		return lookupFailure(rec.Name, err)
	}
	var found []string
	for _, s := range srvs {
		if sameName(s.Target, target) && int(s.Port) == port {
			return Finding{Status: StatusOK, Detail: fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target)}
		}
		found = append(found, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
	}
	if len(found) == 0 {
		return Finding{Status: StatusMissing, Detail: "not published"}
	}
	return Finding{Status: StatusWrong, Detail: "is " + strings.Join(found, ", "), Fix: "replace it with " + rec.String()}
}

// txts returns the TXT records at name that start with prefix
// (case-insensitively).
func (c *checker) txts(name, prefix string) ([]string, *Finding) {
	all, err := c.r.LookupTXT(c.ctx, name)
	if err != nil {
		f := lookupFailure(name, err)
		return nil, &f
	}
	var out []string
	for _, t := range all {
		if len(t) >= len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
			out = append(out, t)
		}
	}
	return out, nil
}

// spf evaluates the published policy (RFC 7208 4) for each of the host's
// addresses, as a receiver would, rather than comparing text: "v=spf1 mx
// -all", "v=spf1 a:mx.example.com ~all" and an include are all right if
// they let our addresses send.
func (c *checker) spf(rec Record) Finding {
	recs, f := c.txts(rec.Name, "v=spf1")
	if f != nil {
		return *f
	}
	switch {
	case len(recs) == 0:
		return Finding{Status: StatusMissing, Detail: "not published"}
	case len(recs) > 1:
		return Finding{Status: StatusWrong, Detail: fmt.Sprintf("%d SPF records (RFC 7208 3.2 makes that a permanent error)", len(recs)), Fix: "keep only " + rec.String()}
	}
	domain := strings.TrimSuffix(c.domain, ".")
	for _, ip := range c.ips {
		res, err := spf.CheckHostWithSender(ip, strings.TrimSuffix(c.host, "."), "postmaster@"+domain,
			spf.WithResolver(c.r), spf.WithContext(c.ctx))
		if res == spf.TempError {
			return Finding{Status: StatusFailed, Detail: fmt.Sprintf("%q: evaluating it failed: %v", recs[0], err), Fix: "check the resolver and run the check again"}
		}
		if res != spf.Pass {
			fix := "replace it with " + rec.String()
			if strings.EqualFold(strings.TrimSpace(recs[0]), rec.Value) {
				// Our suggestion, failing: "mx" finds the MX hosts' addresses.
				fix = "fix the MX and A/AAAA records: " + rec.Value + " allows the addresses of the MX hosts"
			}
			return Finding{Status: StatusWrong, Detail: fmt.Sprintf("%q gives %s for %s", recs[0], res, ip), Fix: fix}
		}
	}
	return Finding{Status: StatusOK, Detail: fmt.Sprintf("%q", recs[0])}
}

func (c *checker) dkim(rec Record) Finding {
	algo := dkimAlgorithm(rec.Value)
	all, err := c.r.LookupTXT(c.ctx, rec.Name)
	if err != nil {
		f := lookupFailure(rec.Name, err)
		if f.Status == StatusMissing {
			f.Detail = "the " + algo + " key is not published"
		}
		return f
	}
	want := dkimKey(rec.Value)
	for _, t := range all {
		if k := dkimKey(t); k != "" && k == want {
			return Finding{Status: StatusOK, Detail: "the " + algo + " key is published and matches"}
		}
	}
	if len(all) == 0 {
		return Finding{Status: StatusMissing, Detail: "the " + algo + " key is not published"}
	}
	return Finding{Status: StatusWrong, Detail: "has a different key than the " + algo + " key Petrel signs with", Fix: "replace it with " + rec.String()}
}

// dkimKey returns the p= tag of a DKIM key record (RFC 6376 3.6.1),
// without the whitespace long keys get split with.
func dkimKey(txt string) string {
	for _, tag := range strings.Split(txt, ";") {
		k, v, ok := strings.Cut(tag, "=")
		if ok && strings.TrimSpace(k) == "p" {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

var (
	dmarcPolicy = regexp.MustCompile(`(?i)(^|;)\s*p\s*=\s*(none|quarantine|reject)\s*(;|$)`)
	stsIDTag    = regexp.MustCompile(`(?i)(^|;)\s*id\s*=\s*[a-z0-9]{1,32}\s*(;|$)`)
	tlsrptRUA   = regexp.MustCompile(`(?i)(^|;)\s*rua\s*=\s*(mailto:|https:)\S+`)
)

// txt checks the policy records (DMARC, MTA-STS, TLS-RPT): any valid
// record of the kind is right, since the domain's owner may choose another
// policy than the one suggested.
func (c *checker) txt(rec Record) Finding {
	prefix, _, _ := strings.Cut(rec.Value, ";")
	recs, f := c.txts(rec.Name, prefix)
	if f != nil {
		return *f
	}
	if len(recs) == 0 {
		return Finding{Status: StatusMissing, Detail: "not published"}
	}
	if len(recs) > 1 {
		return Finding{Status: StatusWrong, Detail: fmt.Sprintf("%d %s records; receivers ignore them all", len(recs), prefix), Fix: "keep only " + rec.String()}
	}
	valid := true
	switch {
	case strings.EqualFold(prefix, "v=DMARC1"):
		valid = dmarcPolicy.MatchString(recs[0])
	case strings.EqualFold(prefix, "v=STSv1"):
		valid = stsIDTag.MatchString(recs[0])
	case strings.EqualFold(prefix, "v=TLSRPTv1"):
		valid = tlsrptRUA.MatchString(recs[0])
	}
	if !valid {
		return Finding{Status: StatusWrong, Detail: fmt.Sprintf("%q is not a valid %s record", recs[0], prefix), Fix: "replace it with " + rec.String()}
	}
	return Finding{Status: StatusOK, Detail: fmt.Sprintf("%q", recs[0])}
}
