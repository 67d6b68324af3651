package store

import (
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		addr, pw string
		why      string // "" = accepted
	}{
		{"bob@example.com", "a good password", ""},
		{"bob@example.com", "correct horse battery staple", ""},
		{"bob@example.com", "Tr0ub4dor&3", ""},
		{"bob@example.com", "kéçàüöäßø", ""}, // 9 characters, more bytes
		{"bob@example.com", "abc", "it has 3 characters"},
		{"bob@example.com", "", "it has 0 characters"},
		{"bob@example.com", "s3cret7", "it has 7 characters"},
		{"bob@example.com", "éééé", "it has 4 characters"},
		{"bob@example.com", "password1", "most common"},
		{"bob@example.com", "PassWord123", "most common"},
		{"bob@example.com", "12345678", "most common"},
		{"bob@example.com", "qwertyuiop", "most common"},
		{"bob@example.com", "iloveyou", "most common"},
		{"bobsmith@example.com", "BobSmith", "the address"},
		{"bob@example.com", "bob@example.com", "the address"},
		{"bob@example.com", "zzzzzzzzzz", "repeated"},
		{"bob@example.com", "23456789", "run"},
		{"bob@example.com", "hgfedcba", "run"},
	}
	for _, c := range cases {
		err := CheckPassword(c.addr, c.pw)
		if c.why == "" {
			if err != nil {
				t.Errorf("CheckPassword(%q, %q) = %v, want accepted", c.addr, c.pw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), PasswordRule) {
			t.Errorf("CheckPassword(%q, %q) = %v, want refused because %q, with the rule", c.addr, c.pw, err, c.why)
		}
	}
}
