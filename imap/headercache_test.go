package imap

import (
	"slices"
	"strings"
	"testing"

	"petrel/search"
	"petrel/store"
)

func TestHeaderCache(t *testing.T) {
	hdr := []byte("From: Alice <alice@example.org>\r\nTo: a@x\r\nto: =?utf-8?q?B=C3=A9b?= <b@x>\r\nSubject: \r\nX: y\r\n\r\n")
	names := []string{"from", "to", "cc", "subject"}
	h := &headerCache{}
	if m := missing(h, []store.UID{1, 2}, names); !slices.Equal(m, []store.UID{1, 2}) {
		t.Fatalf("missing on an empty cache: %v", m)
	}
	fill(h, 1, hdr, names)
	if m := missing(h, []store.UID{1, 2}, names); !slices.Equal(m, []store.UID{2}) {
		t.Errorf("missing after fill(1): %v", m)
	}
	if m := missing(h, []store.UID{1}, append(names, "bcc")); !slices.Equal(m, []store.UID{1}) {
		t.Errorf("a field not filled yet counts as missing: %v", m)
	}
	got := get(h, 1, names)
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
		if g := search.CachedContains(got[c.field], strings.ToLower(c.s)); g != c.want {
			t.Errorf("cachedContains(%s, %q) = %v", c.field, c.s, g)
		}
	}
	if get(h, 2, names) != nil || get(h, 1, append(names, "bcc")) != nil {
		t.Error("get of something not cached returned values")
	}
	h.drop([]store.UID{1})
	if get(h, 1, names) != nil || h.n != 0 {
		t.Errorf("after drop: %v, n = %d", get(h, 1, names), h.n)
	}
	fill(h, 3, hdr, names)
	h.drop(nil)
	if get(h, 3, names) != nil || h.n != 0 {
		t.Error("drop(nil) kept values")
	}
}

// The caches of a server share one budget: past it, the least recently
// used cache is emptied; one cache alone over the budget stops growing.
func TestHeaderCacheBudget(t *testing.T) {
	hdr := []byte("From: a@x\r\nSubject: s\r\n\r\n")
	names := []string{"from", "subject"}
	hc := newHeaderCaches(8)
	a, b := hc.cacheFor(1, 100), hc.cacheFor(2, 100)
	if hc.cacheFor(1, 100) != a || hc.cacheFor(1, 101) == a {
		t.Fatal("cacheFor: one cache per mailbox and UIDVALIDITY")
	}
	missing(a, []store.UID{1}, names)
	fill(a, 1, hdr, names)
	fill(a, 2, hdr, names)
	missing(b, []store.UID{1}, names)
	fill(b, 1, hdr, names)
	fill(b, 1, hdr, names) // again: takes no more room
	if hc.total != 6 || a.n != 4 || b.n != 2 {
		t.Fatalf("total %d, a %d, b %d; want 6, 4, 2", hc.total, a.n, b.n)
	}
	fill(b, 2, hdr, names) // 8: full
	missing(a, []store.UID{3}, names)
	fill(a, 3, hdr, names) // a was used last: b is emptied
	if b.n != 0 || a.n != 6 || hc.total != 6 {
		t.Errorf("after eviction: a %d, b %d, total %d; want 6, 0, 6", a.n, b.n, hc.total)
	}
	if get(b, 1, names) != nil {
		t.Error("an emptied cache still answers")
	}
	fill(a, 4, hdr, names)
	fill(a, 5, hdr, names) // nothing else to empty: a stops growing
	if a.n != 8 || hc.total != 8 || get(a, 5, names) != nil {
		t.Errorf("a alone over the budget: n %d, total %d", a.n, hc.total)
	}
	a.drop([]store.UID{1, 2})
	if a.n != 4 || hc.total != 4 {
		t.Errorf("after drop: n %d, total %d; want 4, 4", a.n, hc.total)
	}
	a.drop(nil)
	if hc.total != 0 {
		t.Errorf("after drop(nil): total %d", hc.total)
	}
}

// fill, missing and get are what SEARCH does with a cache, one message at
// a time.
func fill(h *headerCache, uid store.UID, hdr []byte, names []string) {
	h.put(uid, readValues(hdr, names))
}

func missing(h *headerCache, uids []store.UID, names []string) []store.UID {
	_, miss := h.lookup(uids, names)
	return miss
}

func get(h *headerCache, uid store.UID, names []string) map[string]string {
	got, _ := h.lookup([]store.UID{uid}, names)
	return got[uid]
}
