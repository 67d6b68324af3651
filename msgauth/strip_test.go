package msgauth_test

import (
	"strings"
	"testing"

	"petrel/msgauth"
)

func TestStripAuthResults(t *testing.T) {
	const body = "\r\nAuthentication-Results: mx.petrel.test; spf=pass\r\nbody stays\r\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ours removed", "Authentication-Results: mx.petrel.test; spf=pass smtp.mailfrom=a@b.example\r\nSubject: hi\r\n" + body,
			"Subject: hi\r\n" + body},
		{"others kept", "Authentication-Results: mx.other.example; spf=pass\r\nSubject: hi\r\n" + body,
			"Authentication-Results: mx.other.example; spf=pass\r\nSubject: hi\r\n" + body},
		{"case and trailing dot", "authentication-results:   MX.Petrel.Test. ; dkim=pass\r\nSubject: hi\r\n" + body,
			"Subject: hi\r\n" + body},
		{"folded field removed whole", "Subject: hi\r\nAuthentication-Results: mx.petrel.test;\r\n\tspf=pass;\r\n dkim=pass\r\nTo: x@y.example\r\n" + body,
			"Subject: hi\r\nTo: x@y.example\r\n" + body},
		{"version number", "Authentication-Results: mx.petrel.test 1; spf=pass\r\n" + body,
			body},
		{"leading comment", "Authentication-Results: (forged (nested)) mx.petrel.test; spf=pass\r\n" + body,
			body},
		{"quoted id", "Authentication-Results: \"mx.petrel.test\"; spf=pass\r\n" + body,
			body},
		{"prefix of ours is not ours", "Authentication-Results: mx.petrel.test.evil.example; spf=pass\r\n" + body,
			"Authentication-Results: mx.petrel.test.evil.example; spf=pass\r\n" + body},
		{"ours as a later word is not ours", "Authentication-Results: other.example; x=mx.petrel.test\r\n" + body,
			"Authentication-Results: other.example; x=mx.petrel.test\r\n" + body},
		{"several of ours among others", "Authentication-Results: mx.petrel.test; a=1\r\nAuthentication-Results: o.example; b=2\r\nAuthentication-Results: mx.petrel.test; c=3\r\n" + body,
			"Authentication-Results: o.example; b=2\r\n" + body},
		{"bare LF", "Authentication-Results: mx.petrel.test; spf=pass\nSubject: hi\n\nAuthentication-Results: mx.petrel.test\n",
			"Subject: hi\n\nAuthentication-Results: mx.petrel.test\n"},
		{"header only, no body", "Subject: hi\r\nAuthentication-Results: mx.petrel.test; spf=pass",
			"Subject: hi\r\n"},
		{"similar field name kept", "X-Authentication-Results: mx.petrel.test; spf=pass\r\n" + body,
			"X-Authentication-Results: mx.petrel.test; spf=pass\r\n" + body},
		{"empty message", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(msgauth.StripAuthResults([]byte(tt.in), authserv))
			if got != tt.want {
				t.Errorf("StripAuthResults:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestStamp checks the Verdict's convenience: our header first, forged
// ones gone, others kept.
func TestStamp(t *testing.T) {
	e := newEnv(t)
	msg := message("hi\n",
		"Authentication-Results: mx.petrel.test; dmarc=pass header.from=crepes.fr",
		"Authentication-Results: upstream.example; spf=pass",
		"From: alice@crepes.fr")
	v, err := e.v.Verify(t.Context(), msgauthInput(badIP, "x.example", "alice@crepes.fr", msg))
	if err != nil {
		t.Fatal(err)
	}
	got := string(v.Stamp(msg))
	if !strings.HasPrefix(got, v.Header) {
		t.Errorf("stamped message does not start with our header:\n%s", got)
	}
	if strings.Contains(got, "dmarc=pass") || !strings.Contains(got, "upstream.example; spf=pass") {
		t.Errorf("stamped message kept the forged field or lost the other:\n%s", got)
	}
}
