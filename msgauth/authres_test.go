package msgauth_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// TestHeaderParses checks that the header of every kind of verdict is one
// well-formed field that go-msgauth's parser reads back with our authserv-id
// and one result per check.
func TestHeaderParses(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		ip, helo    string
		mailFrom    string
		msg         []byte
		wantResults int
		wantParts   []string
	}{
		{"signed and aligned", goodIP, "mail.example.com", "alice@example.com", e.signed(t, "example.com", "alice@example.com"), 4,
			[]string{"spf=pass smtp.mailfrom=alice@example.com", "dkim=pass header.d=example.com header.i=@example.com", "dmarc=pass header.from=example.com"}},
		{"null sender", goodIP, "spf-pass.example", "", simpleMessage("x@other.example"), 3,
			[]string{"spf=pass smtp.helo=spf-pass.example", "dkim=none", "dmarc=none header.from=other.example"}},
		{"hostile helo and sender", badIP, "evil\r\nX-Injected: yes", "a\"b;c\r\nX-Injected: yes@x.example", message("hi\n", "From: \"\r\n\" <a@b>"), 3,
			[]string{"spf=none", "dkim=none", "\tdmarc=none\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.v.Verify(t.Context(), msgauthInput(tt.ip, tt.helo, tt.mailFrom, tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			h := v.Header
			name, value, ok := strings.Cut(h, ":")
			if !ok || name != "Authentication-Results" || !strings.HasSuffix(h, "\r\n") {
				t.Fatalf("not one field: %q", h)
			}
			body := strings.TrimSuffix(value, "\r\n")
			if strings.Contains(strings.ReplaceAll(body, "\r\n\t", ""), "\n") || strings.Contains(strings.ReplaceAll(body, "\r\n\t", ""), "\r") {
				t.Fatalf("line break outside folding: %q", h)
			}
			id, results, err := authres.Parse(strings.ReplaceAll(body, "\r\n\t", " "))
			if err != nil || id != authserv || len(results) != tt.wantResults {
				t.Errorf("authres.Parse = %q, %d results, %v; header %q", id, len(results), err, h)
			}
			for _, p := range tt.wantParts {
				if !strings.Contains(h+";", p) {
					t.Errorf("header lacks %q:\n%s", p, h)
				}
			}
		})
	}
}
