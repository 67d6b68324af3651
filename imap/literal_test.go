package imap_test

import (
	"fmt"
	"strings"
	"testing"

	pimap "petrel/imap"
)

// TestAppendLimitNonSyncLiteral: RFC 7888 3. A LITERAL+ (non-synchronising)
// APPEND literal over APPENDLIMIT is refused with NO [TOOBIG], and its
// octets, which the client sends without waiting, are read as the literal
// they are, never as commands. (go-imap refuses such a literal before
// reading it; its lines would then run as commands: here DELETE Work.)
func TestAppendLimitNonSyncLiteral(t *testing.T) {
	e := newEnv(t, func(o *pimap.Options) { o.AppendLimit = 1000 })
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "CREATE Work", "OK")
	body := "Subject: DELETE Work\r\nx2 LOGOUT\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 60)+"\r\n", 40)
	r.send(t, fmt.Sprintf("a1 APPEND INBOX {%d+}\r\n%s", len(body), body))
	r.send(t, "a2 NOOP")
	var got strings.Builder
	for {
		l := r.line(t)
		got.WriteString(l)
		if strings.HasPrefix(l, "a2 ") {
			break
		}
	}
	out := got.String()
	if !strings.Contains(out, "a1 NO [TOOBIG]") || !strings.Contains(out, "a2 OK") {
		t.Errorf("want a1 NO [TOOBIG] then a2 OK, got:\n%s", out)
	}
	for _, bad := range []string{"Subject:", "x2 ", "X-Pad:", "BYE"} {
		if strings.Contains(out, bad) {
			t.Errorf("literal octets were read as commands (%q):\n%s", bad, out)
		}
	}
	if _, err := e.st.MailboxByName(e.acct.ID, "Work"); err != nil {
		t.Errorf("the refused literal's \"Subject: DELETE Work\" ran as a command: %v", err)
	}
	if mb, _ := e.st.MailboxByName(e.acct.ID, "INBOX"); mb.Messages != 0 {
		t.Errorf("INBOX has %d messages after a refused APPEND", mb.Messages)
	}
	// The connection is in step: a literal within the limit is stored.
	msg := crlf(simpleMsg("small", "ok"))
	r.send(t, fmt.Sprintf("a3 APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	if out := r.until(t, "a3", "OK"); !strings.Contains(out, "APPENDUID") {
		t.Errorf("APPEND after the refused one: %s", out)
	}
}
