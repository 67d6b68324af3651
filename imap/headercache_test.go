package imap

import (
	"slices"
	"strings"
	"testing"

	"petrel/store"
)

func TestHeaderCache(t *testing.T) {
	hdr := []byte("From: Alice <alice@example.org>\r\nTo: a@x\r\nto: =?utf-8?q?B=C3=A9b?= <b@x>\r\nSubject: \r\nX: y\r\n\r\n")
	names := []string{"from", "to", "cc", "subject"}
	var h headerCache
	if m := h.missing([]store.UID{1, 2}, names); !slices.Equal(m, []store.UID{1, 2}) {
		t.Fatalf("missing on an empty cache: %v", m)
	}
	h.fill(1, hdr, names)
	if m := h.missing([]store.UID{1, 2}, names); !slices.Equal(m, []store.UID{2}) {
		t.Errorf("missing after fill(1): %v", m)
	}
	if m := h.missing([]store.UID{1}, append(names, "bcc")); !slices.Equal(m, []store.UID{1}) {
		t.Errorf("a field not filled yet counts as missing: %v", m)
	}
	got := h.get(1, names)
	want := map[string]string{"from": "\x00alice <alice@example.org>", "to": "\x00a@x\x00béb <b@x>", "cc": "", "subject": "\x00"}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %q, want %q", n, got[n], w)
		}
	}
	for _, c := range []struct {
		field, s string
		want     bool
	}{
		{"from", "ALICE", true}, {"to", "béb", true}, {"to", "a@x", true},
		{"cc", "", false}, {"subject", "", true}, {"subject", "x", false}, {"from", "bob", false},
	} {
		if g := cachedContains(got[c.field], strings.ToLower(c.s)); g != c.want {
			t.Errorf("cachedContains(%s, %q) = %v", c.field, c.s, g)
		}
	}
	if h.get(2, names) != nil || h.get(1, append(names, "bcc")) != nil {
		t.Error("get of something not cached returned values")
	}
	h.drop([]store.UID{1})
	if h.get(1, names) != nil || h.n != 0 {
		t.Errorf("after drop: %v, n = %d", h.get(1, names), h.n)
	}
	h.fill(3, hdr, names)
	h.drop(nil)
	if h.get(3, names) != nil || h.n != 0 {
		t.Error("drop(nil) kept values")
	}
	// Full: nothing more is added, and searches read what it lacks.
	h.n = maxCachedFields
	h.fill(4, hdr, names)
	if h.get(4, names) != nil {
		t.Error("a full cache took more")
	}
}
