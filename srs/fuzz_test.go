package srs

import (
	"strings"
	"testing"
	"time"
)

// FuzzForwardReverse: an address that Forward rewrites reverses to what it
// stands for (the sender, or for an SRS0 sender the forwarder's SRS0
// address), with the key that signed it only; and Reverse of anything at
// all (RCPT TO is the client's) never panics and accepts nothing unsigned.
func FuzzForwardReverse(f *testing.F) {
	for _, s := range [][2]string{
		{"alice@crepes.fr", "example.com"}, {"a=b@x.org", "example.com"}, {"", "example.com"},
		{"SRS0=abcdef=AB=crepes.fr=alice@forwarder.org", "example.com"},
		{"SRS1=abcdef=forwarder.org==abcdef=AB=crepes.fr=alice@other.org", "example.com"},
		{"srs0+x@y", "example.com."}, {"alice@crepes.fr", "Crepes.FR"}, {"@", ""}, {"a@b=c", "example.com"},
	} {
		f.Add(s[0], s[1])
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	r, _ := New([]byte("0123456789abcdef-fuzz"))
	r.Now = func() time.Time { return now }
	other, _ := New([]byte("0123456789abcdef-other"))
	other.Now = r.Now
	f.Fuzz(func(t *testing.T, sender, domain string) {
		// Anything, as the local part of a recipient.
		if got, err := r.Reverse(sender); err == nil && !strings.Contains(got, "@") {
			t.Fatalf("Reverse(%q) = %q: no domain", sender, got)
		}
		fwd, err := r.Forward(sender, domain)
		if err != nil || fwd == sender || fwd == "" {
			return
		}
		if !IsSRS(fwd) || !strings.HasSuffix(fwd, "@"+strings.TrimSuffix(domain, ".")) {
			t.Fatalf("Forward(%q, %q) = %q: not an SRS address of the domain", sender, domain, fwd)
		}
		back, err := r.Reverse(fwd)
		if err != nil {
			t.Fatalf("Forward(%q, %q) = %q, which does not reverse: %v", sender, domain, fwd, err)
		}
		want := sender
		at := strings.LastIndexByte(sender, '@')
		local, host := sender[:at], sender[at+1:]
		switch tag, ok := tag(local); {
		case ok && tag == 0 && len(local) > 5:
			// SRS1 points back to the forwarder's SRS0 address.
			want = "SRS0" + local[4:] + "@" + host
		case ok && tag == 1:
			// Re-signed; it still points back to the first forwarder.
			if parts := strings.SplitN(local[5:], "=", 3); len(parts) == 3 && parts[1] != "" && len(parts[2]) >= 2 {
				want = "SRS0" + parts[2] + "@" + parts[1]
			}
		}
		if !strings.EqualFold(back, want) {
			t.Fatalf("Forward(%q, %q) = %q reverses to %q, want %q", sender, domain, fwd, back, want)
		}
		if _, err := other.Reverse(fwd); err == nil {
			t.Fatalf("%q reversed with another key", fwd)
		}
	})
}
