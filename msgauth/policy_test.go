package msgauth_test

import (
	"context"
	"log/slog"
	"testing"

	"petrel/msgauth"
)

// TestPolicy runs the same messages under different local policies.
func TestPolicy(t *testing.T) {
	forgery := func() msgauth.Input {
		return msgauthInput(badIP, "x.example", "alice@crepes.fr", simpleMessage("alice@crepes.fr"))
	}
	quarantined := func() msgauth.Input {
		return msgauthInput(badIP, "x.example", "x@quarantine.example", simpleMessage("x@quarantine.example"))
	}
	spfFailNoDMARC := func() msgauth.Input {
		return msgauthInput(badIP, "x.example", "x@spf-pass.example", simpleMessage("x@other.example"))
	}
	tests := []struct {
		name   string
		policy msgauth.Policy
		per    map[string]msgauth.Policy
		rcpt   []string
		in     func() msgauth.Input
		want   msgauth.Action
	}{
		{"zero policy means default: reject", msgauth.Policy{}, nil, nil, forgery, msgauth.Reject},
		{"default quarantines", msgauth.DefaultPolicy(), nil, nil, quarantined, msgauth.Quarantine},
		{"reject off falls back to junk", msgauth.Policy{QuarantineToJunk: true}, nil, nil, forgery, msgauth.Quarantine},
		{"junk off delivers p=quarantine failures", msgauth.Policy{RejectDMARC: true}, nil, nil, quarantined, msgauth.Accept},
		{"record only accepts forgery", msgauth.Policy{RecordOnly: true, RejectDMARC: true}, nil, nil, forgery, msgauth.Accept},
		{"spf fail without dmarc noted by default", msgauth.DefaultPolicy(), nil, nil, spfFailNoDMARC, msgauth.Accept},
		{"spf fail refused when asked", msgauth.Policy{RejectSPFFail: true}, nil, nil, spfFailNoDMARC, msgauth.Reject},
		{"per-domain policy for the recipient", msgauth.DefaultPolicy(),
			map[string]msgauth.Policy{"lax.test": {RecordOnly: true}}, []string{"LAX.test"}, forgery, msgauth.Accept},
		{"strictest recipient domain wins", msgauth.DefaultPolicy(),
			map[string]msgauth.Policy{"lax.test": {RecordOnly: true}}, []string{"lax.test", "petrel.test"}, forgery, msgauth.Reject},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := msgauth.NewVerifier(msgauth.Options{
				Hostname:     authserv,
				Resolver:     msgauth.NewNetResolver(e.dns.Addr),
				Policy:       tt.policy,
				DomainPolicy: tt.per,
				Logger:       slog.New(slog.DiscardHandler),
			})
			in := tt.in()
			in.RcptDomains = tt.rcpt
			got, err := v.Verify(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != tt.want {
				t.Errorf("Action = %v (%q), want %v", got.Action, got.Reason, tt.want)
			}
			if (got.Action == msgauth.Accept) != (got.Reason == "") {
				t.Errorf("Reason %q does not match Action %v", got.Reason, got.Action)
			}
		})
	}
}

// TestSPFFailWithDMARCPass: RejectSPFFail does not refuse mail DMARC
// authenticates through DKIM (a forwarded, signed message).
func TestSPFFailWithDMARCPass(t *testing.T) {
	e := newEnv(t, func(o *msgauth.Options) { o.Policy = msgauth.Policy{RejectSPFFail: true} })
	v, err := e.v.Verify(context.Background(), msgauthInput(badIP, "fwd.example", "alice@example.com", e.signed(t, "example.com", "alice@example.com")))
	if err != nil {
		t.Fatal(err)
	}
	if v.SPF.Result != "fail" || v.DMARC[0].Result != "pass" || v.Action != msgauth.Accept {
		t.Errorf("SPF %s DMARC %s Action %v, want fail, pass, Accept", v.SPF.Result, v.DMARC[0].Result, v.Action)
	}
}
