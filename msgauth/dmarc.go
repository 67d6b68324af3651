package msgauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"regexp"

	"github.com/emersion/go-msgauth/dmarc"
)

// DMARCOutcome is the DMARC result for one author domain (RFC 7489).
type DMARCOutcome struct {
	// Result is none (no record), pass, fail, temperror or permerror (the
	// record could not be parsed).
	Result string
	// Domain is the RFC5322.From domain evaluated.
	Domain string
	// RecordDomain is where the record was found: Domain or its
	// organizational domain.
	RecordDomain string
	// Policy is the published policy that applies to Domain: p=, or sp= when
	// the record is the organizational domain's and Domain is below it.
	Policy string
	// Applied is Policy after pct sampling (RFC 7489 section 6.6.4): a
	// message outside the sample gets the next lower policy. It is "none"
	// unless Result is fail.
	Applied string
	// SPFAligned and DKIMAligned say which identifier passed in alignment.
	SPFAligned, DKIMAligned bool
	// Err explains a temperror or permerror, for logs.
	Err error
}

// dmarcRecord is a looked-up policy, before evaluation.
type dmarcRecord struct {
	domain       string
	recordDomain string
	rec          *dmarc.Record
	result       string // "" when rec is set, else none, temperror or permerror
	err          error
}

// lookupDMARC finds the policy for the author domain from: at
// _dmarc.<from>, else at _dmarc.<organizational domain> (RFC 7489 section
// 6.6.3).
func lookupDMARC(ctx context.Context, r Resolver, from string) dmarcRecord {
	opts := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }}
	names := []string{from}
	if od := orgDomain(from); od != from {
		names = append(names, od)
	}
	for _, name := range names {
		rec, err := dmarc.LookupWithOptions(name, opts)
		switch {
		case err == nil:
			return dmarcRecord{domain: from, recordDomain: name, rec: rec}
		case errors.Is(err, dmarc.ErrNoPolicy):
			continue
		case dmarc.IsTempFail(err):
			return dmarcRecord{domain: from, recordDomain: name, result: "temperror", err: err}
		default:
			return dmarcRecord{domain: from, recordDomain: name, result: "permerror", err: err}
		}
	}
	return dmarcRecord{domain: from, result: "none"}
}

// evaluate applies the record to the SPF and DKIM results (RFC 7489
// section 6.6.2): pass if either passed for an aligned domain. sample(pct)
// reports whether this message is in the pct sample.
func (d dmarcRecord) evaluate(spf SPFOutcome, dkims []DKIMOutcome, sample func(pct int) bool) DMARCOutcome {
	out := DMARCOutcome{Result: d.result, Domain: d.domain, RecordDomain: d.recordDomain, Applied: "none", Err: d.err}
	if d.rec == nil {
		return out
	}
	out.Policy = string(d.rec.Policy)
	if d.recordDomain != d.domain && d.rec.SubdomainPolicy != "" {
		out.Policy = string(d.rec.SubdomainPolicy)
	}
	out.SPFAligned = spf.Result == "pass" && aligned(d.domain, spf.Domain, d.rec.SPFAlignment == dmarc.AlignmentStrict)
	tempErr := spf.Result == "temperror"
	for _, k := range dkims {
		if k.Result == "pass" && aligned(d.domain, k.Domain, d.rec.DKIMAlignment == dmarc.AlignmentStrict) {
			out.DKIMAligned = true
		}
		tempErr = tempErr || k.Result == "temperror"
	}
	switch {
	case out.SPFAligned || out.DKIMAligned:
		out.Result = "pass"
	case tempErr:
		// A lookup failed that might have made it pass: say so rather
		// than fail, and let the policy treat it gently (policy.go).
		out.Result = "temperror"
		out.Err = errors.New("no aligned pass, and an SPF or DKIM check failed temporarily")
	default:
		out.Result = "fail"
		out.Applied = out.Policy
		if d.rec.Percent != nil && !sample(*d.rec.Percent) {
			out.Applied = lowerPolicy(out.Policy)
		}
	}
	return out
}

// lowerPolicy is the policy applied to a failing message outside the pct
// sample: quarantine for reject, none for quarantine (RFC 7489 section 6.6.4).
func lowerPolicy(p string) string {
	switch p {
	case string(dmarc.PolicyReject):
		return string(dmarc.PolicyQuarantine)
	default:
		return string(dmarc.PolicyNone)
	}
}

// randomSample is the production sampler: true for pct percent of calls.
func randomSample(pct int) bool {
	return rand.IntN(100) < pct
}

// atDomain finds the domains of addresses in a From field net/mail cannot
// parse, so a malformed From that a mail reader still displays does not
// escape DMARC.
var atDomain = regexp.MustCompile(`@([A-Za-z0-9._-]+)`)

// maxAuthorDomains bounds the From domains evaluated per message.
const maxAuthorDomains = 5

// authorDomains returns the distinct, normalized domains of every address
// in every From field of msg. RFC 5322 allows one From field, but a message
// with several is evaluated for all of them, the strictest result winning,
// so an extra From cannot hide a forged one.
func authorDomains(msg []byte) []string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d, ok := normalizeDomain(d); ok && !seen[d] && len(out) < maxAuthorDomains {
			seen[d] = true
			out = append(out, d)
		}
	}
	fields := scanHeader(msg)
	for _, f := range fields {
		if !f.is("From") {
			continue
		}
		value := f.value(msg)
		list, err := mail.ParseAddressList(value)
		if err != nil {
			for _, m := range atDomain.FindAllStringSubmatch(value, maxAuthorDomains) {
				add(m[1])
			}
			continue
		}
		for _, a := range list {
			_, d := splitAddress(a.Address)
			add(d)
		}
	}
	return out
}

func (o DMARCOutcome) String() string {
	return fmt.Sprintf("%s %s p=%s applied=%s", o.Domain, o.Result, o.Policy, o.Applied)
}
