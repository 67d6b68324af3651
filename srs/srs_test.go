package srs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func rewriter(t *testing.T, key string, now time.Time) *Rewriter {
	t.Helper()
	r, err := New([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	r.Now = func() time.Time { return now }
	return r
}

var day0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestSRS0RoundTrip(t *testing.T) {
	r := rewriter(t, "0123456789abcdef-first", day0)
	fwd, err := r.Forward("Alice.B@Crepes.fr", "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fwd, "SRS0=") || !strings.HasSuffix(fwd, "=Crepes.fr=Alice.B@example.com") {
		t.Fatalf("Forward = %q, want SRS0=HHHHHH=TT=Crepes.fr=Alice.B@example.com", fwd)
	}
	if !IsSRS(fwd) {
		t.Errorf("IsSRS(%q) = false", fwd)
	}
	for _, addr := range []string{fwd, strings.ToLower(fwd), strings.ToUpper(fwd[:len(fwd)-len("@example.com")]) + "@example.com"} {
		got, err := r.Reverse(addr)
		if err != nil {
			t.Fatalf("Reverse(%q): %v", addr, err)
		}
		if !strings.EqualFold(got, "Alice.B@Crepes.fr") {
			t.Errorf("Reverse(%q) = %q, want alice.b@crepes.fr", addr, got)
		}
	}
	// A local part with '=' survives.
	fwd, _ = r.Forward("a=b@x.org", "example.com")
	if got, err := r.Reverse(fwd); err != nil || got != "a=b@x.org" {
		t.Errorf("Reverse(%q) = %q, %v", fwd, got, err)
	}
}

func TestNotRewritten(t *testing.T) {
	r := rewriter(t, "0123456789abcdef-first", day0)
	for _, tc := range [][2]string{{"", ""}, {"bob@example.com", "bob@example.com"}, {"bob@EXAMPLE.com", "bob@EXAMPLE.com"}} {
		if got, err := r.Forward(tc[0], "example.com"); err != nil || got != tc[1] {
			t.Errorf("Forward(%q) = %q, %v; want %q", tc[0], got, err, tc[1])
		}
	}
	if _, err := r.Forward("no-at-sign", "example.com"); err == nil {
		t.Error("Forward of an address without @ succeeded")
	}
	for _, a := range []string{"bob@example.com", "srs0@example.com", "SRS2=x=y@example.com", "SRS0"} {
		if IsSRS(a) {
			t.Errorf("IsSRS(%q) = true", a)
		}
		if _, err := r.Reverse(a); !errors.Is(err, ErrNotSRS) {
			t.Errorf("Reverse(%q) = %v, want ErrNotSRS", a, err)
		}
	}
}

// Two forwarders in a row: the second makes SRS1, which reverses to the
// first's SRS0, which reverses to the sender.
func TestSRS1Chain(t *testing.T) {
	first := rewriter(t, "0123456789abcdef-first", day0)
	second := rewriter(t, "0123456789abcdef-second", day0)
	third := rewriter(t, "0123456789abcdef-third", day0)
	a, _ := first.Forward("alice@crepes.fr", "forwarder.org")
	b, err := second.Forward(a, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b, "SRS1=") || !strings.HasSuffix(b, "=forwarder.org=="+strings.TrimPrefix(strings.TrimSuffix(a, "@forwarder.org"), "SRS0=")+"@example.com") {
		t.Fatalf("second Forward = %q (first was %q)", b, a)
	}
	// A third forwarder keeps pointing at the first one.
	c, err := third.Forward(b, "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c, "SRS1=") || !strings.Contains(c, "=forwarder.org==") {
		t.Fatalf("third Forward = %q", c)
	}
	if got, err := third.Reverse(c); err != nil || got != a {
		t.Errorf("third Reverse(%q) = %q, %v; want %q", c, got, err, a)
	}
	back, err := second.Reverse(b)
	if err != nil {
		t.Fatal(err)
	}
	if back != a {
		t.Fatalf("second Reverse = %q, want %q", back, a)
	}
	orig, err := first.Reverse(back)
	if err != nil || orig != "alice@crepes.fr" {
		t.Errorf("first Reverse(%q) = %q, %v", back, orig, err)
	}
	// Only the key that signed verifies.
	if _, err := first.Reverse(b); !errors.Is(err, ErrBadHash) {
		t.Errorf("SRS1 of another key: %v, want ErrBadHash", err)
	}
}

func TestForgedAndExpired(t *testing.T) {
	r := rewriter(t, "0123456789abcdef-first", day0)
	fwd, _ := r.Forward("alice@crepes.fr", "example.com")
	// Another address under the same hash and stamp.
	forged := strings.Replace(fwd, "=alice@", "=mallory@", 1)
	if _, err := r.Reverse(forged); !errors.Is(err, ErrBadHash) {
		t.Errorf("Reverse(%q) = %v, want ErrBadHash", forged, err)
	}
	other := rewriter(t, "another key entirely", day0)
	if _, err := other.Reverse(fwd); !errors.Is(err, ErrBadHash) {
		t.Errorf("Reverse with another key = %v, want ErrBadHash", err)
	}
	for _, bad := range []string{"SRS0=abc@example.com", "SRS0=abcdef=T=crepes.fr=alice@example.com", "SRS0=abcdef=TT==alice@example.com", "SRS1=abc=@example.com", "SRS0=abcdef=!!=crepes.fr=alice@example.com"} {
		if _, err := r.Reverse(bad); err == nil {
			t.Errorf("Reverse(%q) succeeded", bad)
		}
	}
	for _, tc := range []struct {
		days int
		err  error
	}{{0, nil}, {21, nil}, {22, ErrExpired}, {400, ErrExpired}, {1023, ErrExpired}, {-1, ErrExpired}} {
		later := rewriter(t, "0123456789abcdef-first", day0.Add(time.Duration(tc.days)*24*time.Hour))
		_, err := later.Reverse(fwd)
		if !errors.Is(err, tc.err) {
			t.Errorf("%d days later: %v, want %v", tc.days, err, tc.err)
		}
	}
	short := rewriter(t, "0123456789abcdef-first", day0.Add(3*24*time.Hour))
	short.MaxAge = 2
	if _, err := short.Reverse(fwd); !errors.Is(err, ErrExpired) {
		t.Errorf("MaxAge 2, 3 days later: %v, want ErrExpired", err)
	}
	if _, err := New([]byte("short")); err == nil {
		t.Error("New accepted a 5-byte key")
	}
}
