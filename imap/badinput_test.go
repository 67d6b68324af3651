package imap_test

import (
	"strings"
	"testing"
	"time"

	pimap "petrel/imap"
)

// TestBadInput: malformed commands get BAD (or NO) and the session goes on.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "SELECT INBOX", "OK")
	r.cmd(t, "APPEND INBOX {11+}\r\nSubject: x\r", "OK")
	tests := []struct{ cmd, status string }{
		{"FETCH", "BAD"},
		{"FETCH 1", "BAD"},
		{"FETCH x:y (FLAGS)", "BAD"},
		{"FETCH 1 (NOSUCHITEM)", "BAD"},
		{"FETCH 1 BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20]", "OK"},
		{"FETCH 1 BODY[HEADER.FIELDS ()]", "OK"}, // read as HEADER, as before
		{"FETCH 1 BODY[]<4294967295.4294967295>", "OK"},
		{"FETCH 1:4294967295 (FLAGS)", "OK"},
		{"UID FETCH 4294967295:* (FLAGS)", "OK"},
		{"STORE 1 +FLAGS (\\Bogus", "BAD"},
		{"STORE 1 FLAGZ (\\Seen)", "BAD"},
		{"SEARCH NOSUCHKEY", "BAD"},
		{"SEARCH OR SEEN", "BAD"},
		{"SEARCH (((((((((((((((((((((((((((((((((SEEN)))))))))))))))))))))))))))))))))", "OK"},
		{"SEARCH CHARSET KOI8-R BODY x", "NO"},
		{"SEARCH SINCE 32-Foo-2020", "BAD"},
		{"EXAMINE \"&Jjo\"", "BAD"}, // not modified UTF-7
		{"COPY 1 NoSuchBox", "NO"},
		{"SELECT", "BAD"},
		{"SELECT \"\"", "NO"},
		{"SELECT NoSuchBox", "NO"}, // and leaves no mailbox selected
		{"FETCH 1 (FLAGS)", "BAD"},
		{"CREATE \"a//b\"", "NO"},
		{"CREATE INBOX", "NO"},
		{"DELETE INBOX", "NO"},
		{"RENAME NoSuch Other", "NO"},
		{"STATUS INBOX (NOSUCH)", "BAD"},
		{"LIST", "BAD"},
		{"NOSUCHCOMMAND", "BAD"},
	}
	for _, tc := range tests {
		t.Run(strings.ToValidUTF8(tc.cmd, "?"), func(t *testing.T) {
			r.cmd(t, tc.cmd, tc.status)
		})
	}
	// Still alive and consistent.
	r.cmd(t, "SELECT INBOX", "OK")
	if out := r.cmd(t, "FETCH 1 (UID)", "OK"); !strings.Contains(out, "* 1 FETCH (UID 1)") {
		t.Errorf("after bad input: %s", out)
	}
}

// TestUnparsableCommandCloses: go-imap cannot answer a command whose tag
// or name it cannot read, so it closes the connection (or refuses it with
// NO/BAD); it must not hang or take the server down.
func TestUnparsableCommandCloses(t *testing.T) {
	e := newEnv(t)
	for _, line := range []string{"UID", "\x00\x01\x02", strings.Repeat("x", 100_000)} {
		r := e.raw(t)
		r.send(t, line)
		r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			l, err := r.br.ReadString('\n')
			if err != nil {
				break // closed: good
			}
			if strings.Contains(l, " OK") && !strings.HasPrefix(l, "* OK") {
				t.Errorf("%q: got %q", line[:min(len(line), 20)], l)
			}
			if !strings.HasPrefix(l, "*") {
				break // a tagged NO or BAD is fine too
			}
		}
	}
	// The server still works.
	r := e.raw(t)
	r.login(t)
}

// TestAppendLimit: APPENDLIMIT is advertised, and a synchronising literal
// over it is refused with NO [TOOBIG] at once, without a continuation
// request, so its octets are never sent (a LITERAL+ one's are read and
// discarded: TestAppendLimitNonSyncLiteral).
func TestAppendLimit(t *testing.T) {
	e := newEnv(t, func(o *pimap.Options) { o.AppendLimit = 1000 })
	r := e.raw(t)
	out := r.cmd(t, "LOGIN user@example.org secret", "OK")
	if !strings.Contains(out, "APPENDLIMIT=1000") {
		t.Errorf("capabilities lack APPENDLIMIT=1000: %s", out)
	}
	if out := r.cmd(t, "CAPABILITY", "OK"); !strings.Contains(out, " APPENDLIMIT=1000") {
		t.Errorf("CAPABILITY lacks APPENDLIMIT=1000: %s", out)
	}
	if out := r.cmd(t, "STATUS INBOX (APPENDLIMIT)", "OK"); !strings.Contains(out, "APPENDLIMIT 1000") {
		t.Errorf("STATUS APPENDLIMIT: %s", out)
	}
	r.send(t, "a1 APPEND INBOX {5000}")
	if l := r.line(t); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Fatalf("APPEND of 5000 bytes with limit 1000: %q, want a1 NO [TOOBIG]", l)
	}
	if mb, _ := e.st.MailboxByName(e.acct.ID, "INBOX"); mb.Messages != 0 {
		t.Errorf("INBOX has %d messages after a refused APPEND", mb.Messages)
	}
	// Within the limit it works.
	msg := crlf(simpleMsg("small", "ok"))
	r.send(t, "a2 APPEND INBOX {"+itoa(len(msg))+"}")
	if l := r.line(t); !strings.HasPrefix(l, "+") {
		t.Fatalf("want continuation, got %q", l)
	}
	r.c.Write([]byte(msg + "\r\n"))
	if out := r.until(t, "a2", "OK"); !strings.Contains(out, "APPENDUID") {
		t.Errorf("APPEND: %s", out)
	}
}

func itoa(n int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + func() string {
		b := []byte{}
		if n == 0 {
			return "0"
		}
		for n > 0 {
			b = append([]byte{byte('0' + n%10)}, b...)
			n /= 10
		}
		return string(b)
	}())
}
