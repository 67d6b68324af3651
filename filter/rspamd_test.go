package filter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/dnsmx/dnsmxtest"
	"petrel/internal/testenv"
)

// gtube is SpamAssassin's and rspamd's test string for spam.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// startRspamd runs rspamd's proxy worker in milter mode, scanning itself
// (no separate normal worker), from a configuration in a temporary
// directory: no redis, no hyperscan cache, and DNS asked of a test server
// that knows no name, so that it starts and answers without a network.
func startRspamd(t *testing.T) string {
	t.Helper()
	bin := testenv.RequireTool(t, "rspamd")
	dir := t.TempDir()
	dns := dnsmxtest.Start(t)
	addr := freePort(t)
	conf := `.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    disable_hyperscan = true;
    dns { nameserver = ["` + dns.Addr + `"]; timeout = 1s; retransmits = 1; }
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "notice"; }
worker "rspamd_proxy" {
    bind_socket = "` + addr + `";
    milter = yes;
    timeout = 60s;
    count = 1;
    upstream "local" { default = yes; self_scan = yes; }
}
`
	path := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// rspamd adds its result fields only with milter_headers configured,
	// as docs/filtering.md tells admins to.
	if err := os.Mkdir(filepath.Join(dir, "local.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "local.d", "milter_headers.conf"), []byte("extended_spam_headers = true;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "-f", "-i", "-c", path, "--var", "DBDIR="+dir, "--var", "RUNDIR="+dir, "--var", "LOGDIR="+dir, "--var", "LOCAL_CONFDIR="+dir)
	d.waitListening(t, "tcp", addr, 3*time.Minute, filepath.Join(dir, "rspamd.log"))
	return "inet:" + addr
}

// TestRspamd: GTUBE is refused with rspamd's own reply, a normal message
// passes with the headers rspamd adds.
func TestRspamd(t *testing.T) {
	addr := startRspamd(t)
	c := newChain(t, Spec{Milter: addr, Timeout: time.Minute})
	ctx := context.Background()

	spam := "From: a@example.org\r\nTo: b@example.com\r\nSubject: test\r\nMessage-ID: <1@example.org>\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\n\r\n" + gtube + "\r\n"
	res := c.Check(ctx, testEnv(), []byte(spam))
	if res.Verdict != Reject || res.Code != 554 || res.Enhanced != [3]int{5, 7, 1} || !strings.Contains(res.Text, "Gtube pattern") {
		t.Errorf("GTUBE: %v %d %v %q (%s)", res.Verdict, res.Code, res.Enhanced, res.Text, res.Reason)
	}

	ham := "From: a@example.org\r\nTo: b@example.com\r\nSubject: lunch on friday\r\nMessage-ID: <2@example.org>\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\n\r\nShall we meet at noon at the usual place?\r\n"
	res = c.Check(ctx, testEnv(), []byte(ham))
	if res.Verdict != Accept || res.Quarantine {
		t.Fatalf("normal message: %v %d %q (%s)", res.Verdict, res.Code, res.Text, res.Reason)
	}
	h := parseHeader(res.Message)
	var added []string
	for _, f := range h.fields {
		if !strings.Contains(ham, f.name+":") {
			added = append(added, strings.TrimSpace(string(f.raw)))
		}
	}
	if len(added) == 0 || res.Edits == 0 {
		t.Errorf("rspamd added no header field:\n%s", res.Message)
	}
	// Its verdict, and the queue ID it was given in macro i.
	if !strings.Contains(string(res.Message), "\r\nX-Spamd-Result: default: False") || !strings.Contains(string(res.Message), "\r\nX-Rspamd-Queue-Id: q123\r\n") {
		t.Errorf("no X-Spamd-Result or X-Rspamd-Queue-Id from rspamd, added: %q", added)
	}
	if !strings.HasSuffix(string(res.Message), "\r\n\r\nShall we meet at noon at the usual place?\r\n") {
		t.Errorf("body changed:\n%q", res.Message)
	}
}
