package imap_test

import (
	"sync"
	"testing"

	pimap "petrel/imap"
)

// TestOverQuotaCounted: each APPEND and COPY refused with NO [OVERQUOTA]
// is reported to Options.OnOverQuota (the metric), and nothing else is.
func TestOverQuotaCounted(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	e := newEnv(t, func(o *pimap.Options) {
		o.OnOverQuota = func(where string) {
			mu.Lock()
			defer mu.Unlock()
			got[where]++
		}
	})
	if err := e.st.SetQuota(t.Context(), e.acct.Address, 0, 1); err != nil {
		t.Fatal(err)
	}
	r := e.raw(t)
	r.cmd(t, "LOGIN user@example.org secret", "OK")
	r.send(t, "a1 APPEND INBOX {10+}\r\nSubject: 1")
	r.until(t, "a1", "OK")
	r.send(t, "a2 APPEND INBOX {10+}\r\nSubject: 2")
	r.until(t, "a2", "NO")
	r.cmd(t, "SELECT INBOX", "OK")
	r.cmd(t, "COPY 1 Archive", "NO")
	r.cmd(t, "COPY 1 Nonexistent", "NO")
	mu.Lock()
	defer mu.Unlock()
	if got["imap-append"] != 1 || got["imap-copy"] != 1 || len(got) != 2 {
		t.Errorf("OnOverQuota calls: %v, want one imap-append and one imap-copy", got)
	}
}
