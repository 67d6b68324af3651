package imap_test

import (
	"fmt"
	"mime"
	"regexp"
	"strings"
	"testing"
)

// TestIMAP4rev2Session: a client that sends ENABLE IMAP4rev2 gets RFC 9051
// replies: SELECT without RECENT but with the mailbox's LIST, ESEARCH for
// every SEARCH, UTF-8 in quoted strings, STATUS DELETED and SIZE.
func TestIMAP4rev2Session(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, simpleMsg("one", "first"))
	e.deliver(t, simpleMsg("two", "second"))
	r := e.raw(t)
	if out := r.cmd(t, "LOGIN user@example.org secret", "OK"); !strings.Contains(out, " IMAP4rev2") {
		t.Fatalf("LOGIN does not advertise IMAP4rev2: %s", out)
	}
	if out := r.cmd(t, "ENABLE IMAP4rev2", "OK"); !strings.Contains(out, "* ENABLED IMAP4rev2\r\n") {
		t.Fatalf("ENABLE IMAP4rev2:\n%s", out)
	}

	// RFC 9051 6.3.2: FLAGS, EXISTS and LIST are required; RECENT is gone.
	out := r.cmd(t, "SELECT INBOX", "OK [READ-WRITE]")
	for _, want := range []string{"* 2 EXISTS\r\n", "* FLAGS (", "* OK [PERMANENTFLAGS (", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 3]", "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("rev2 SELECT lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "RECENT") || strings.Contains(out, `\Recent`) {
		t.Errorf("rev2 SELECT mentions RECENT:\n%s", out)
	}

	// SEARCH answers ESEARCH, even without RETURN (RFC 9051 7.3.4).
	if out := r.cmd(t, "SEARCH ALL", "OK"); !strings.Contains(out, "* ESEARCH (TAG \"t4\") ALL 1:2\r\n") || strings.Contains(out, "* SEARCH") {
		t.Errorf("rev2 SEARCH ALL:\n%s", out)
	}
	if out := r.cmd(t, "UID SEARCH RETURN (MIN MAX COUNT) ALL", "OK"); !strings.Contains(out, "* ESEARCH (TAG \"t5\") UID MIN 1 MAX 2 COUNT 2\r\n") {
		t.Errorf("rev2 UID SEARCH RETURN (MIN MAX COUNT):\n%s", out)
	}
	if out := r.cmd(t, "SEARCH SUBJECT nothing-like-this", "OK"); !strings.Contains(out, "* ESEARCH (TAG \"t6\")\r\n") {
		t.Errorf("rev2 SEARCH with no match (an ESEARCH without ALL):\n%s", out)
	}
	// SAVE and $ (SEARCHRES is part of rev2).
	r.cmd(t, "SEARCH RETURN (SAVE) SUBJECT two", "OK")
	if out := r.cmd(t, "FETCH $ (UID)", "OK"); !strings.Contains(out, "* 2 FETCH (UID 2)") || strings.Count(out, " FETCH (") != 1 {
		t.Errorf("rev2 FETCH $:\n%s", out)
	}

	// FETCH and STORE: flags without \Recent, BINARY, header fields.
	if out := r.cmd(t, "STORE 1 +FLAGS (\\Seen \\Deleted)", "OK"); !strings.Contains(out, "* 1 FETCH (FLAGS (") || strings.Contains(out, `\Recent`) {
		t.Errorf("rev2 STORE:\n%s", out)
	}
	out = r.cmd(t, "FETCH 1:2 (UID FLAGS RFC822.SIZE BINARY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT)])", "OK")
	for _, want := range []string{"UID 1", "UID 2", `\Seen`, "RFC822.SIZE ", "BINARY[1] ", "first\r\n", "Subject: two\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("rev2 FETCH lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `\Recent`) {
		t.Errorf("rev2 FETCH shows \\Recent:\n%s", out)
	}

	// STATUS DELETED and SIZE (RFC 9051 6.3.11).
	size := len(crlf(simpleMsg("one", "first"))) + len(crlf(simpleMsg("two", "second")))
	if out := r.cmd(t, "STATUS INBOX (MESSAGES UNSEEN DELETED SIZE)", "OK"); !strings.Contains(out, fmt.Sprintf("(MESSAGES 2 UNSEEN 1 DELETED 1 SIZE %d)", size)) {
		t.Errorf("rev2 STATUS:\n%s", out)
	}

	// UTF-8 mailbox names travel as they are (RFC 9051 5.1).
	r.cmd(t, `CREATE "Été/Überblick"`, "OK")
	if out := r.cmd(t, `LIST "" "Été/*"`, "OK"); !strings.Contains(out, `"/" "Été/Überblick"`+"\r\n") {
		t.Errorf("rev2 LIST of a UTF-8 name:\n%s", out)
	}
	if _, err := e.st.MailboxByName(e.acct.ID, "Été/Überblick"); err != nil {
		t.Errorf("UTF-8 name in the store: %v", err)
	}

	// EXPUNGE, then MOVE with COPYUID and the EXPUNGE it implies.
	if out := r.cmd(t, "EXPUNGE", "OK"); !strings.Contains(out, "* 1 EXPUNGE\r\n") {
		t.Errorf("rev2 EXPUNGE:\n%s", out)
	}
	if out := r.cmd(t, `MOVE 1 "Été/Überblick"`, "OK"); !strings.Contains(out, "[COPYUID ") || !strings.Contains(out, "* 1 EXPUNGE\r\n") {
		t.Errorf("rev2 MOVE:\n%s", out)
	}
	r.cmd(t, "CLOSE", "OK")
	r.cmd(t, "LOGOUT", "OK")
}

// TestUTF8Accept: RFC 6855. Mailbox names are modified UTF-7 until the
// client sends ENABLE UTF8=ACCEPT, and UTF-8 from then on; APPEND takes
// the UTF8 data extension, and the message's UTF-8 header comes back in
// a quoted string.
func TestUTF8Accept(t *testing.T) {
	e := newEnv(t)
	r := e.raw(t)
	if out := r.cmd(t, "LOGIN user@example.org secret", "OK"); !strings.Contains(out, " UTF8=ACCEPT") {
		t.Fatalf("LOGIN does not advertise UTF8=ACCEPT: %s", out)
	}
	r.cmd(t, `CREATE "&AMk-t&AOk-"`, "OK") // "Été" in modified UTF-7
	if out := r.cmd(t, `LIST "" "*"`, "OK"); !strings.Contains(out, `"/" "&AMk-t&AOk-"`+"\r\n") {
		t.Errorf("LIST before ENABLE UTF8=ACCEPT (want modified UTF-7):\n%s", out)
	}
	if out := r.cmd(t, "ENABLE UTF8=ACCEPT", "OK"); !strings.Contains(out, "* ENABLED UTF8=ACCEPT\r\n") {
		t.Fatalf("ENABLE UTF8=ACCEPT:\n%s", out)
	}
	if out := r.cmd(t, `LIST "" "*"`, "OK"); !strings.Contains(out, `"/" "Été"`+"\r\n") {
		t.Errorf("LIST after ENABLE UTF8=ACCEPT (want UTF-8):\n%s", out)
	}

	const box = "Données/日本"
	r.cmd(t, `CREATE "`+box+`"`, "OK")
	msg := crlf("From: Jürgen <juergen@example.org>\nTo: user@example.org\nSubject: Grüße aus 日本\nDate: Mon, 02 Jan 2006 15:04:05 +0000\n\nBody ü\n")
	r.send(t, fmt.Sprintf(`a1 APPEND "%s" (\Seen) UTF8 (~{%d+}`+"\r\n%s)", box, len(msg), msg))
	if out := r.until(t, "a1", "OK"); !strings.Contains(out, "[APPENDUID ") {
		t.Errorf("APPEND UTF8 (~{...}):\n%s", out)
	}
	// A plain literal with UTF-8 content is accepted too.
	msg2 := crlf("Subject: Zweite Grüße\n\nzwei\n")
	r.send(t, fmt.Sprintf(`a2 APPEND "%s" {%d+}`+"\r\n%s", box, len(msg2), msg2))
	r.until(t, "a2", "OK")

	if out := r.cmd(t, `SELECT "`+box+`"`, "OK"); !strings.Contains(out, "* 2 EXISTS\r\n") {
		t.Errorf("SELECT %s:\n%s", box, out)
	}
	if out := r.cmd(t, "FETCH 1 (BODY.PEEK[])", "OK"); !strings.Contains(out, msg) {
		t.Errorf("FETCH BODY[] of a UTF-8 message (want the bytes as appended):\n%s", out)
	}
	// go-imap (imapserver writeEnvelope) writes the ENVELOPE subject and
	// display names as RFC 2047 encoded-words whatever was enabled: valid,
	// if not the raw UTF-8 RFC 6855 would allow.
	out := r.cmd(t, "FETCH 1 (ENVELOPE)", "OK")
	m := regexp.MustCompile(`ENVELOPE \("[^"]*" "([^"]*)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("FETCH ENVELOPE:\n%s", out)
	}
	if subj, err := new(mime.WordDecoder).DecodeHeader(m[1]); err != nil || subj != "Grüße aus 日本" {
		t.Errorf("ENVELOPE subject %q decodes to %q (%v)", m[1], subj, err)
	}
	if out := r.cmd(t, `SEARCH SUBJECT "grüße"`, "OK"); !strings.Contains(out, "* SEARCH 1 2\r\n") {
		t.Errorf("SEARCH SUBJECT grüße:\n%s", out)
	}
	if mb, err := e.st.MailboxByName(e.acct.ID, box); err != nil || mb.Messages != 2 {
		t.Errorf("store: %+v %v", mb, err)
	}
}
