package msgauth

import "strings"

// Policy says what Petrel does with mail whose authentication failed. The
// zero Policy means DefaultPolicy (see Options.Policy); to record results
// without ever refusing or quarantining, set RecordOnly.
type Policy struct {
	// RejectDMARC refuses, with 550 5.7.1 at the end of DATA, mail that fails
	// DMARC for a domain publishing p=reject (RFC 7489 section 6.6.4 lets a
	// receiver do so). When false, such mail is quarantined instead if
	// QuarantineToJunk is set. Default true.
	RejectDMARC bool
	// QuarantineToJunk delivers to Junk mail that fails DMARC for a domain
	// publishing p=quarantine (or p=reject, see above). Default true.
	QuarantineToJunk bool
	// RejectSPFFail refuses mail whose SPF result is "fail" (the sender
	// domain's record ends in -all and the client is not listed) unless DMARC
	// passes. Default false: SPF alone breaks on forwarding, so the failure
	// is only recorded in the header.
	RejectSPFFail bool
	// RecordOnly writes the Authentication-Results header and never refuses
	// or quarantines, whatever the other fields say.
	RecordOnly bool
}

// DefaultPolicy is the policy used when none is configured.
func DefaultPolicy() Policy {
	return Policy{RejectDMARC: true, QuarantineToJunk: true}
}

// Action is what the receiving server does with a message.
type Action int

const (
	// Accept delivers the message to the inbox.
	Accept Action = iota
	// Quarantine delivers the message to the recipient's Junk mailbox.
	Quarantine
	// Reject refuses the message at the end of DATA with 550 5.7.1 and
	// Verdict.Reason.
	Reject
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Quarantine:
		return "quarantine"
	case Reject:
		return "reject"
	default:
		return "unknown"
	}
}

// decide applies p to the results of one message and returns the action and,
// when the message is not accepted, the reason to give the client. The
// reason names only the domain and the public DMARC or SPF outcome, nothing
// from Petrel's configuration.
func (p Policy) decide(spf SPFOutcome, dmarcs []DMARCOutcome) (Action, string) {
	if p.RecordOnly {
		return Accept, ""
	}
	action, reason := Accept, ""
	raise := func(a Action, r string) {
		if a > action {
			action, reason = a, r
		}
	}
	dmarcPass := false
	for _, d := range dmarcs {
		if d.Result == "pass" {
			dmarcPass = true
		}
		if d.Result == "temperror" && d.Policy != "" && d.Policy != "none" && p.QuarantineToJunk {
			// The domain asks for enforcement but a lookup that might have
			// authenticated the message failed: Junk neither loses it nor
			// lets a forgery into the inbox while our DNS is down.
			raise(Quarantine, "DMARC temporary error for "+d.Domain)
		}
		if d.Result != "fail" {
			continue
		}
		switch d.Applied {
		case "reject":
			switch {
			case p.RejectDMARC:
				raise(Reject, "DMARC policy of "+d.Domain+" rejects this message: it is not authenticated by SPF or DKIM aligned with "+d.Domain)
			case p.QuarantineToJunk:
				raise(Quarantine, "DMARC fail for "+d.Domain+" (p=reject, quarantined by local policy)")
			}
		case "quarantine":
			if p.QuarantineToJunk {
				raise(Quarantine, "DMARC fail for "+d.Domain+" (p="+d.Policy+", applied quarantine)")
			}
		}
	}
	if p.RejectSPFFail && spf.Result == "fail" && !dmarcPass {
		raise(Reject, "SPF of "+spf.Domain+" does not allow this client to send its mail")
	}
	return action, reason
}

// strictest returns the most severe of the actions of the policies that
// apply to a message's recipient domains, with its reason.
func strictest(policies map[string]Policy, def Policy, rcptDomains []string, spf SPFOutcome, dmarcs []DMARCOutcome) (Action, string) {
	if len(rcptDomains) == 0 {
		return def.decide(spf, dmarcs)
	}
	action, reason := Accept, ""
	for _, d := range rcptDomains {
		p, ok := policies[strings.ToLower(strings.TrimSuffix(d, "."))]
		if !ok {
			p = def
		}
		if a, r := p.decide(spf, dmarcs); a > action {
			action, reason = a, r
		}
	}
	return action, reason
}
