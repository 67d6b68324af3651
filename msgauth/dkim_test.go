package msgauth_test

import (
	"bytes"
	"context"
	"testing"
)

func TestDKIM(t *testing.T) {
	e := newEnv(t)
	signedCom := e.signed(t, "example.com", "alice@example.com")
	tests := []struct {
		name string
		msg  []byte
		want []string // one result per signature, in header order
	}{
		{"none unsigned", simpleMessage("alice@example.com"), nil},
		{"pass ed25519 and rsa", signedCom, []string{"pass", "pass"}},
		{"fail body altered", bytes.Replace(signedCom, []byte("this is a test"), []byte("this is a TEST"), 1), []string{"fail", "fail"}},
		{"fail signed header altered", bytes.Replace(signedCom, []byte("Subject: test"), []byte("Subject: tesT"), 1), []string{"fail", "fail"}},
		{"fail second From added", append([]byte("From: mallory@evil.example\r\n"), signedCom...), []string{"fail", "fail"}},
		{"pass unsigned header added", append([]byte("X-Extra: yes\r\n"), signedCom...), []string{"pass", "pass"}},
		{"permerror no key", bytes.ReplaceAll(signedCom, []byte("s=ed;"), []byte("s=gone;")), []string{"permerror", "pass"}},
		{"temperror key servfail", bytes.ReplaceAll(signedCom, []byte("s=ed;"), []byte("s=broken;")), []string{"temperror", "pass"}},
		{"permerror garbage signature", message("hi\n", "DKIM-Signature: v=1; garbage", "From: a@example.com"), []string{"permerror"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.v.Verify(context.Background(), msgauthInput(goodIP, "x.example", "alice@example.com", tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range v.DKIM {
				got = append(got, k.Result)
				if k.Result == "pass" && k.Domain != "example.com" {
					t.Errorf("pass for domain %q, want example.com", k.Domain)
				}
			}
			if !equal(got, tt.want) {
				t.Errorf("DKIM results = %q, want %q (%+v)", got, tt.want, v.DKIM)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDKIMSignatureLimit: a message with many signatures costs at most five
// verifications (and key lookups).
func TestDKIMSignatureLimit(t *testing.T) {
	e := newEnv(t)
	msg := simpleMessage("alice@example.com")
	for range 4 { // two keys each time: eight signatures
		var err error
		if msg, err = e.signer.Sign("example.com", msg); err != nil {
			t.Fatal(err)
		}
	}
	if n := bytes.Count(msg, []byte("DKIM-Signature:")); n != 8 {
		t.Fatalf("message has %d signatures, want 8", n)
	}
	v, err := e.v.Verify(context.Background(), msgauthInput(goodIP, "x.example", "alice@example.com", msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.DKIM) != 5 || v.DKIM[0].Result != "pass" {
		t.Errorf("got %d DKIM results (first %+v), want 5 starting with a pass", len(v.DKIM), v.DKIM[0])
	}
}
