package msgauth_test

import (
	"context"
	"testing"
)

func TestSPF(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name         string
		ip           string
		helo, from   string
		want         string
		wantIdentity string
		wantDomain   string
	}{
		{"pass", goodIP, "mail.spf-pass.example", "alice@spf-pass.example", "pass", "mailfrom", "spf-pass.example"},
		{"fail", badIP, "mail.spf-pass.example", "alice@spf-pass.example", "fail", "mailfrom", "spf-pass.example"},
		{"softfail", badIP, "x.example", "alice@spf-soft.example", "softfail", "mailfrom", "spf-soft.example"},
		{"neutral", badIP, "x.example", "alice@spf-neutral.example", "neutral", "mailfrom", "spf-neutral.example"},
		{"none no record", goodIP, "x.example", "alice@no-spf.example", "none", "mailfrom", "no-spf.example"},
		{"none nxdomain", goodIP, "x.example", "alice@nx.example", "none", "mailfrom", "nx.example"},
		{"none single label", goodIP, "x.example", "alice@localhost", "none", "mailfrom", ""},
		{"temperror servfail", goodIP, "x.example", "alice@spf-servfail.example", "temperror", "mailfrom", "spf-servfail.example"},
		{"permerror bad mechanism", goodIP, "x.example", "alice@spf-perm.example", "permerror", "mailfrom", "spf-perm.example"},
		{"permerror lookup limit", goodIP, "x.example", "alice@loop.example", "permerror", "mailfrom", "loop.example"},
		{"pass via mx", mxIP, "x.example", "alice@spf-mx.example", "pass", "mailfrom", "spf-mx.example"},
		{"fail via mx", goodIP, "x.example", "alice@spf-mx.example", "fail", "mailfrom", "spf-mx.example"},
		{"pass via include", goodIP, "x.example", "alice@spf-include.example", "pass", "mailfrom", "spf-include.example"},
		{"case and angle brackets", goodIP, "x.example", "<Alice@SPF-Pass.Example>", "pass", "mailfrom", "spf-pass.example"},
		{"null sender uses helo pass", goodIP, "spf-pass.example", "", "pass", "helo", "spf-pass.example"},
		{"null sender uses helo fail", badIP, "spf-pass.example", "", "fail", "helo", "spf-pass.example"},
		{"ipv6 pass", "2001:db8::25", "x.example", "a@spf6.example", "pass", "mailfrom", "spf6.example"},
		{"ipv6 fail", "2001:db9::25", "x.example", "a@spf6.example", "fail", "mailfrom", "spf6.example"},
		{"null sender ip literal helo", badIP, "[198.51.100.7]", "", "none", "helo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.v.Verify(context.Background(), msgauthInput(tt.ip, tt.helo, tt.from, simpleMessage("x@other.example")))
			if err != nil {
				t.Fatal(err)
			}
			if v.SPF.Result != tt.want || v.SPF.Identity != tt.wantIdentity || v.SPF.Domain != tt.wantDomain {
				t.Errorf("SPF = %s/%s/%s (err %v), want %s/%s/%s", v.SPF.Result, v.SPF.Identity, v.SPF.Domain, v.SPF.Err,
					tt.want, tt.wantIdentity, tt.wantDomain)
			}
		})
	}
}
