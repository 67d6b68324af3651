package pop3_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
	"petrel/pop3"
)

// poplibResult is what testdata/poplib_session.py prints.
type poplibResult struct {
	Capa     []string `json:"capa"`
	TLS      bool     `json:"tls"`
	CapaTLS  []string `json:"capa_tls"`
	Pass     string   `json:"pass"`
	Stat     [2]int64 `json:"stat"`
	Messages []struct {
		N      int    `json:"n"`
		UIDL   string `json:"uidl"`
		List   int64  `json:"list"`
		Resp   string `json:"resp"`
		Len    int64  `json:"len"`
		SHA256 string `json:"sha256"`
	} `json:"messages"`
	Quit string `json:"quit"`
}

// runPoplib runs the poplib session script against addr.
func runPoplib(t testing.TB, addr, cafile string, deleteEvery int) poplibResult {
	t.Helper()
	// Debian's python3, which CI installs, before any version-manager
	// shim on PATH (a pyenv shim costs seconds per start).
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = testenv.RequireTool(t, "python3")
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(py, "testdata/poplib_session.py", host, port, "alice@example.org", "secret", cafile, fmt.Sprint(deleteEvery))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("poplib session took %v", time.Since(start))
	if err != nil {
		t.Fatalf("poplib session: %v\n%s", err, stderr.String())
	}
	var r poplibResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("poplib output %q: %v", out, err)
	}
	return r
}

// TestPoplib runs a Thunderbird-like session with Python's poplib: CAPA,
// STLS (or plain from loopback), USER/PASS, STAT, UIDL, LIST, RETR of
// every message, DELE of every third, QUIT; then checks every byte it got
// and what is left in the store.
func TestPoplib(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"stls", true}, {"plain from loopback", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			serverTLS, cafile := testCA(t)
			if !tc.tls {
				serverTLS, cafile = nil, "-"
			}
			e := newEnv(t, func(o *pop3.Options) { o.TLSConfig = serverTLS })
			e.deliverAll(t, maildrop(60))
			var msgs [][]byte // in UID order: message n is msgs[n-1]
			for _, uid := range e.inboxUIDs(t) {
				m, err := e.st.ReadMessage(e.inbox.ID, uid)
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, m)
			}
			r := runPoplib(t, e.addr, cafile, 3)

			if r.TLS != tc.tls || !strings.HasPrefix(r.Pass, "+OK") {
				t.Fatalf("tls %v, PASS %q", r.TLS, r.Pass)
			}
			if tc.tls && (slices.Contains(r.CapaTLS, "STLS") || !slices.Contains(r.Capa, "STLS")) {
				t.Errorf("CAPA %v, after STLS %v", r.Capa, r.CapaTLS)
			}
			var total int64
			uidls := map[string]bool{}
			for i, m := range r.Messages {
				want := asFetchmailDelivers(msgs[i])
				sum := sha256.Sum256(want)
				if m.Len != int64(len(want)) || m.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("message %d: poplib got %d octets, want %d (digest match %v)", m.N, m.Len, len(want), m.SHA256 == hex.EncodeToString(sum[:]))
				}
				if m.List != m.Len || m.Resp != fmt.Sprintf("+OK %d octets", m.Len) {
					t.Errorf("message %d: LIST %d, RETR %q, but %d octets sent", m.N, m.List, m.Resp, m.Len)
				}
				if uidls[m.UIDL] {
					t.Errorf("UIDL %q repeated", m.UIDL)
				}
				uidls[m.UIDL] = true
				total += m.Len
			}
			if len(r.Messages) != len(msgs) || r.Stat != [2]int64{int64(len(msgs)), total} {
				t.Errorf("STAT %v for %d messages of %d octets", r.Stat, len(r.Messages), total)
			}
			if !strings.Contains(r.Quit, "(40 messages left)") {
				t.Errorf("QUIT %q", r.Quit)
			}
			if n := len(e.inboxUIDs(t)); n != 40 {
				t.Errorf("INBOX has %d messages after deleting 20 of 60", n)
			}
		})
	}
}
