package msgauth_test

import (
	"context"
	"strings"
	"testing"

	"petrel/msgauth"
)

func TestDMARC(t *testing.T) {
	e := newEnv(t)
	// Every message in the sample: pct sampling is tested on its own below.
	msgauth.SetSample(e.v, func(int) bool { return true })
	tests := []struct {
		name        string
		ip          string
		mailFrom    string
		msg         []byte
		wantDMARC   string // result for the single From domain
		wantPolicy  string
		wantApplied string
		wantSPFAl   bool
		wantDKIMAl  bool
		wantAction  msgauth.Action
	}{
		{"pass via SPF alignment", goodIP, "bob@spf-pass.example", simpleMessage("bob@spf-pass.example"),
			"pass", "reject", "none", true, false, msgauth.Accept},
		{"pass via relaxed SPF alignment", goodIP, "bounce@mail.example.com", simpleMessage("alice@example.com"),
			"pass", "reject", "none", true, false, msgauth.Accept},
		{"pass via DKIM alignment", badIP, "bounce@other.example", e.signed(t, "example.com", "alice@example.com"),
			"pass", "reject", "none", false, true, msgauth.Accept},
		{"pass via relaxed DKIM alignment", badIP, "bounce@other.example", e.signed(t, "example.com", "alice@news.example.com"),
			"pass", "reject", "none", false, true, msgauth.Accept},
		{"strict SPF alignment fails on subdomain", goodIP, "x@bounces.strict.example.net", simpleMessage("alice@strict.example.net"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
		{"strict SPF alignment passes on same domain", goodIP, "x@strict.example.net", simpleMessage("alice@strict.example.net"),
			"pass", "reject", "none", true, false, msgauth.Accept},
		{"strict DKIM alignment fails on parent signature", badIP, "x@other.example", e.signed(t, "example.net", "alice@strict.example.net"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
		{"SPF pass unaligned is not enough", goodIP, "bob@spf-pass.example", simpleMessage("alice@crepes.fr"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
		{"reject", badIP, "alice@crepes.fr", simpleMessage("alice@crepes.fr"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
		{"quarantine", badIP, "x@quarantine.example", simpleMessage("x@quarantine.example"),
			"fail", "quarantine", "quarantine", false, false, msgauth.Quarantine},
		{"policy none", badIP, "x@pnone.example", simpleMessage("x@pnone.example"),
			"fail", "none", "none", false, false, msgauth.Accept},
		{"no record", badIP, "x@other.example", simpleMessage("x@other.example"),
			"none", "", "none", false, false, msgauth.Accept},
		{"sp applies to subdomain", badIP, "x@sub.org.example", simpleMessage("x@sub.org.example"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
		{"p applies to org domain itself", badIP, "x@org.example", simpleMessage("x@org.example"),
			"fail", "none", "none", false, false, msgauth.Accept},
		{"org record found for subdomain", badIP, "x@deep.sub.crepes.fr", simpleMessage("x@deep.sub.crepes.fr"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
		{"temperror record lookup", badIP, "x@dmarc-servfail.example", simpleMessage("x@dmarc-servfail.example"),
			"temperror", "", "none", false, false, msgauth.Accept},
		{"temperror SPF under p=reject goes to Junk", goodIP, "x@spf-servfail.example", simpleMessage("alice@example.com"),
			"temperror", "reject", "none", false, false, msgauth.Quarantine},
		{"permerror invalid record", badIP, "x@badrec.example", simpleMessage("x@badrec.example"),
			"permerror", "", "none", false, false, msgauth.Accept},
		{"malformed From still evaluated", badIP, "alice@crepes.fr", message("hi\n", "From: Alice <alice@crepes.fr>>"),
			"fail", "reject", "reject", false, false, msgauth.Reject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.v.Verify(context.Background(), msgauthInput(tt.ip, "x.example", tt.mailFrom, tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if len(v.DMARC) != 1 {
				t.Fatalf("got %d DMARC results, want 1: %+v", len(v.DMARC), v.DMARC)
			}
			d := v.DMARC[0]
			if d.Result != tt.wantDMARC || d.Policy != tt.wantPolicy || d.Applied != tt.wantApplied ||
				d.SPFAligned != tt.wantSPFAl || d.DKIMAligned != tt.wantDKIMAl {
				t.Errorf("DMARC = %+v\nwant result %s policy %q applied %s spfAligned %v dkimAligned %v",
					d, tt.wantDMARC, tt.wantPolicy, tt.wantApplied, tt.wantSPFAl, tt.wantDKIMAl)
			}
			if v.Action != tt.wantAction {
				t.Errorf("Action = %v (%s), want %v", v.Action, v.Reason, tt.wantAction)
			}
			if !strings.Contains(v.Header, "dmarc="+tt.wantDMARC) {
				t.Errorf("header lacks dmarc=%s:\n%s", tt.wantDMARC, v.Header)
			}
		})
	}
}

// TestDMARCPct checks RFC 7489 section 6.6.4 sampling: a failing message
// outside the pct sample gets the next lower policy, and pct=0 puts every
// message outside it whatever the sampler would say.
func TestDMARCPct(t *testing.T) {
	tests := []struct {
		name       string
		domain     string
		inSample   bool
		useRandom  bool
		wantAction msgauth.Action
		wantApply  string
	}{
		{"pct=0 reject becomes quarantine", "pct0.example", false, true, msgauth.Quarantine, "quarantine"},
		{"pct=0 quarantine becomes none", "pct0q.example", false, true, msgauth.Accept, "none"},
		{"pct=50 in sample reject", "pct50.example", true, false, msgauth.Reject, "reject"},
		{"pct=50 outside sample reject becomes quarantine", "pct50.example", false, false, msgauth.Quarantine, "quarantine"},
		{"no pct tag is 100 percent", "crepes.fr", false, true, msgauth.Reject, "reject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if !tt.useRandom {
				msgauth.SetSample(e.v, func(int) bool { return tt.inSample })
			}
			v, err := e.v.Verify(context.Background(), msgauthInput(badIP, "x.example", "x@"+tt.domain, simpleMessage("x@"+tt.domain)))
			if err != nil {
				t.Fatal(err)
			}
			if v.Action != tt.wantAction || v.DMARC[0].Applied != tt.wantApply {
				t.Errorf("Action %v applied %q, want %v %q", v.Action, v.DMARC[0].Applied, tt.wantAction, tt.wantApply)
			}
		})
	}
}

// TestTextbookForgery is the case issue 6 names: MAIL FROM alice@crepes.fr
// from an address crepes.fr's SPF does not allow, crepes.fr publishing
// DMARC p=reject. It must be refused, with a reason fit for 550 5.7.1, and
// the same message from the allowed address must be accepted.
func TestTextbookForgery(t *testing.T) {
	e := newEnv(t)
	msg := simpleMessage("Alice <alice@crepes.fr>")
	forged, err := e.v.Verify(context.Background(), msgauthInput(badIP, "evil.example", "alice@crepes.fr", msg))
	if err != nil {
		t.Fatal(err)
	}
	if forged.Action != msgauth.Reject {
		t.Fatalf("forgery: Action = %v, want Reject; verdict %+v", forged.Action, forged)
	}
	if !strings.Contains(forged.Reason, "crepes.fr") || strings.ContainsAny(forged.Reason, "\r\n") {
		t.Errorf("forgery: Reason = %q, want a one-line reason naming crepes.fr", forged.Reason)
	}
	wantHeader := "Authentication-Results: mx.petrel.test;\r\n" +
		"\tspf=fail smtp.mailfrom=alice@crepes.fr;\r\n" +
		"\tdkim=none;\r\n" +
		"\tdmarc=fail reason=\"p=reject applied=reject\" header.from=crepes.fr\r\n"
	if forged.Header != wantHeader {
		t.Errorf("forgery header:\n%q\nwant\n%q", forged.Header, wantHeader)
	}

	genuine, err := e.v.Verify(context.Background(), msgauthInput(goodIP, "mail.crepes.fr", "alice@crepes.fr", msg))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := forged.Summary(), "spf=fail dkim=none dmarc=fail(crepes.fr) action=reject"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if genuine.Action != msgauth.Accept || genuine.DMARC[0].Result != "pass" {
		t.Errorf("genuine: Action %v DMARC %+v, want Accept and pass", genuine.Action, genuine.DMARC)
	}
}

// TestMultipleFrom checks that a second From field cannot hide a forged
// one: every author domain is evaluated and the strictest result wins.
func TestMultipleFrom(t *testing.T) {
	e := newEnv(t)
	msg := message("hi\n", "From: x@other.example", "From: alice@crepes.fr", "Subject: two authors")
	v, err := e.v.Verify(context.Background(), msgauthInput(badIP, "x.example", "x@other.example", msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.DMARC) != 2 || v.Action != msgauth.Reject {
		t.Errorf("got %d DMARC results and %v, want 2 and Reject: %+v", len(v.DMARC), v.Action, v.DMARC)
	}
}
