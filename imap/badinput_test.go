package imap_test

import (
	"strings"
	"testing"
	"time"

	pimap "petrel/imap"
)

// goImapServerBug marks malformed commands that go-imap v2.0.0-beta.8
// answers NO [SERVERBUG] "Internal server error" where RFC 9051 wants BAD.
// Petrel cannot change that reply without forking go-imap:
//
//   - (*imapserver.Conn).readCommand (unexported) picks the reply from the
//     error a command handler returns: an *imap.Error as it is, an
//     *imapwire.DecoderExpectError as BAD [CLIENTBUG], anything else as
//     NO [SERVERBUG] plus a log line ("handling SEARCH command: ...").
//   - These parse failures are plain errors, raised inside go-imap's own
//     parsing before any Session method is called: imapwire's
//     ExpectNumSet returns imapnum.ParseSet's error (FETCH x:y);
//     readSearchKeyWithAtom tries an unknown key as a sequence set and
//     returns imapwire.ParseSeqSet's error (SEARCH NOSUCHKEY);
//     internal.ExpectDate returns time.Parse's error (SEARCH SINCE
//     32-Foo-2020); ExpectMailbox returns utf7.Decode's error (a mailbox
//     name that is not modified UTF-7).
//   - Nothing of Petrel's runs between the parse and the reply: the Logger
//     is told but cannot change the reply, and a net.Conn wrapper cannot
//     rewrite it either, as on TLS connections (imaps, and after STARTTLS,
//     which go-imap performs itself) it would only see ciphertext.
//
// The session goes on normally after such a reply. Upstream pull request
// emersion/go-imap#765 turns the first, second and fourth into BAD; when
// go-imap answers BAD here, these cases fail and should expect BAD.
const goImapServerBug = "NO [SERVERBUG]"

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
		{"FETCH x:y (FLAGS)", goImapServerBug},
		{"FETCH 1 (NOSUCHITEM)", "BAD"},
		{"FETCH 1 BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20]", "OK"},
		{"FETCH 1 BODY[HEADER.FIELDS ()]", "OK"}, // go-imap reads it as HEADER
		{"FETCH 1 BODY[]<4294967295.4294967295>", "OK"},
		{"FETCH 1:4294967295 (FLAGS)", "OK"},
		{"UID FETCH 4294967295:* (FLAGS)", "OK"},
		{"STORE 1 +FLAGS (\\Bogus", "BAD"},
		{"STORE 1 FLAGZ (\\Seen)", "BAD"},
		{"SEARCH NOSUCHKEY", goImapServerBug},
		{"SEARCH OR SEEN", "BAD"},
		{"SEARCH (((((((((((((((((((((((((((((((((SEEN)))))))))))))))))))))))))))))))))", "OK"},
		{"SEARCH CHARSET KOI8-R BODY x", "NO"},
		{"SEARCH SINCE 32-Foo-2020", goImapServerBug},
		{"EXAMINE \"&Jjo\"", goImapServerBug}, // not modified UTF-7
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
// over it is refused with NO [TOOBIG]. Its octets are read first (the
// continuation request is sent): go-imap cannot tell Petrel whether a
// literal is synchronising before it must decide, and refusing unread
// would let a LITERAL+ literal's octets run as commands
// (TestAppendLimitNonSyncLiteral, and AppendLimit in session.go).
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
	if l := r.line(t); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND of 5000 bytes with limit 1000: %q, want a continuation request", l)
	}
	r.c.Write([]byte("Subject: NOOP\r\n" + strings.Repeat("x", 5000-15) + "\r\n"))
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
