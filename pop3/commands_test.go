package pop3_test

import (
	"strings"
	"testing"
)

// step is one command and the start of the reply it must get.
type step struct{ send, want string }

// TestCommands runs every command in every state, with good and bad
// arguments, each case on a fresh connection to a maildrop of three
// messages (sizes 26, 28 and 30 octets).
func TestCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t,
		"Subject: one\r\n\r\nbody one\r\n",
		"Subject: two\r\n\r\nbody two!!\r\n",
		"Subject: three\r\n\r\nbody three\r\n",
	)
	login := []step{{"USER alice@example.org", "+OK"}, {"PASS secret", "+OK maildrop has 3 messages (84 octets)"}}
	cases := []struct {
		name  string
		login bool
		steps []step
	}{
		{"noop before login", false, []step{{"NOOP", "-ERR NOOP is not valid before login"}}},
		{"stat before login", false, []step{{"STAT", "-ERR STAT is not valid before login"}}},
		{"retr before login", false, []step{{"RETR 1", "-ERR"}}},
		{"list before login", false, []step{{"LIST", "-ERR"}}},
		{"uidl before login", false, []step{{"UIDL", "-ERR"}}},
		{"top before login", false, []step{{"TOP 1 0", "-ERR"}}},
		{"dele before login", false, []step{{"DELE 1", "-ERR"}}},
		{"rset before login", false, []step{{"RSET", "-ERR"}}},
		{"unknown command", false, []step{{"FROB", "-ERR unknown command FROB"}, {"NOOP", "-ERR"}}},
		{"keyword too long", false, []step{{"RETRIEVE 1", "-ERR unknown command"}}},
		{"keyword not letters", false, []step{{"R3TR 1", "-ERR unknown command"}}},
		{"empty line", false, []step{{"", "-ERR empty command"}}},
		{"control characters", false, []step{{"US\x01R x", "-ERR control characters"}}},
		{"apop", false, []step{{"APOP alice 0123456789abcdef", "-ERR APOP is not supported"}}},
		{"pass without user", false, []step{{"PASS secret", "-ERR USER first"}}},
		{"user without name", false, []step{{"USER", "-ERR usage"}}},
		{"wrong password", false, []step{{"USER alice@example.org", "+OK"}, {"PASS nope", "-ERR [AUTH]"}, {"PASS secret", "-ERR USER first"}}},
		{"unknown user", false, []step{{"USER bob@example.org", "+OK"}, {"PASS secret", "-ERR [AUTH]"}}},
		{"lower-case keywords", false, []step{{"user alice@example.org", "+OK"}, {"pass secret", "+OK maildrop has 3"}, {"stat", "+OK 3 84"}}},
		{"auth unknown mechanism", false, []step{{"AUTH CRAM-MD5", "-ERR unsupported SASL mechanism"}}},
		{"quit before login", false, []step{{"QUIT", "+OK pop.example.org POP3 server signing off"}}},
		{"stat", true, []step{{"STAT", "+OK 3 84"}}},
		{"stat with argument", true, []step{{"STAT 1", "-ERR STAT takes no arguments"}}},
		{"list one", true, []step{{"LIST 2", "+OK 2 28"}}},
		{"list zero", true, []step{{"LIST 0", "-ERR no message 0"}}},
		{"list past end", true, []step{{"LIST 4", "-ERR no message 4 (maildrop has 3)"}}},
		{"list not a number", true, []step{{"LIST x", `-ERR invalid message number "x"`}}},
		{"list negative", true, []step{{"LIST -1", "-ERR invalid message number"}}},
		{"list plus sign", true, []step{{"LIST +1", "-ERR invalid message number"}}},
		{"list huge", true, []step{{"LIST 99999999999", "-ERR invalid message number"}}},
		{"list two args", true, []step{{"LIST 1 2", "-ERR usage: LIST"}}},
		{"uidl one", true, []step{{"UIDL 1", "+OK 1 "}}},
		{"uidl past end", true, []step{{"UIDL 9", "-ERR no message 9"}}},
		{"retr without argument", true, []step{{"RETR", "-ERR usage: RETR message"}}},
		{"retr past end", true, []step{{"RETR 4", "-ERR no message 4"}}},
		{"top missing lines", true, []step{{"TOP 1", "-ERR usage: TOP message lines"}}},
		{"top bad lines", true, []step{{"TOP 1 -1", "-ERR invalid line count"}}},
		{"dele", true, []step{{"DELE 1", "+OK message 1 deleted"}, {"STAT", "+OK 2 58"}, {"LIST 1", "-ERR message 1 already deleted"}, {"RETR 1", "-ERR message 1 already deleted"}, {"TOP 1 0", "-ERR message 1 already deleted"}, {"UIDL 1", "-ERR message 1 already deleted"}, {"DELE 1", "-ERR message 1 already deleted"}, {"RSET", "+OK"}}},
		{"dele bad", true, []step{{"DELE", "-ERR usage: DELE"}, {"DELE 0", "-ERR no message 0"}, {"DELE a", "-ERR invalid message number"}}},
		{"rset", true, []step{{"DELE 1", "+OK"}, {"DELE 3", "+OK"}, {"STAT", "+OK 1 28"}, {"RSET", "+OK maildrop has 3 messages (84 octets)"}, {"STAT", "+OK 3 84"}, {"LIST 1", "+OK 1 26"}}},
		{"rset with argument", true, []step{{"RSET 1", "-ERR RSET takes no arguments"}}},
		{"noop", true, []step{{"NOOP", "+OK"}}},
		{"noop with argument", true, []step{{"NOOP x", "-ERR NOOP takes no arguments"}}},
		{"user after login", true, []step{{"USER alice@example.org", "-ERR already authenticated"}}},
		{"pass after login", true, []step{{"PASS secret", "-ERR already authenticated"}}},
		{"auth after login", true, []step{{"AUTH PLAIN", "-ERR already authenticated"}}},
		{"stls after login", true, []step{{"STLS", "-ERR already authenticated"}}},
		{"unknown after login", true, []step{{"XTND", "-ERR unknown command XTND"}, {"STAT", "+OK 3 84"}}},
		{"quit with argument", true, []step{{"QUIT now", "-ERR QUIT takes no arguments"}, {"STAT", "+OK 3 84"}}},
		{"over-long line", true, []step{{"NOOP " + strings.Repeat("x", 5000), "-ERR line too long"}, {"STAT", "+OK 3 84"}}},
		{"quit", true, []step{{"QUIT", "+OK pop.example.org POP3 server signing off (3 messages left)"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			steps := tc.steps
			if tc.login {
				steps = append(append([]step{}, login...), steps...)
			}
			for _, s := range steps {
				c.expect(s.send, s.want)
			}
			if last := steps[len(steps)-1]; last.send != "QUIT" {
				// QUIT's reply is sent after the maildrop is unlocked, so
				// the next case can log in at once.
				c.expect("QUIT", "+OK")
			}
		})
	}
}

// TestMultiLine checks the multi-line replies: LIST, UIDL, RETR, CAPA.
func TestMultiLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: a\r\n\r\nA\r\n", "Subject: b\r\n\r\nBB\r\n")
	c := e.login(t)

	c.expect("LIST", "+OK 2 messages (35 octets)")
	if got, want := strings.Join(c.lines(), "|"), "1 17|2 18"; got != want {
		t.Errorf("LIST = %q, want %q", got, want)
	}
	c.expect("UIDL", "+OK")
	uidls := c.lines()
	if len(uidls) != 2 || !strings.HasPrefix(uidls[0], "1 ") || !strings.HasPrefix(uidls[1], "2 ") || uidls[0][2:] == uidls[1][2:] {
		t.Errorf("UIDL = %q, want two distinct ids", uidls)
	}
	for _, u := range uidls {
		id := u[2:]
		if len(id) == 0 || len(id) > 70 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			t.Errorf("UIDL id %q breaks RFC 1939 (1-70 chars 0x21-0x7E)", id)
		}
	}
	c.expect("RETR 2", "+OK 18 octets")
	if got := string(c.body()); got != "Subject: b\r\n\r\nBB\r\n" {
		t.Errorf("RETR 2 = %q", got)
	}
	c.expect("DELE 1", "+OK")
	c.expect("LIST", "+OK 1 message (18 octets)")
	if got := strings.Join(c.lines(), "|"); got != "2 18" {
		t.Errorf("LIST after DELE 1 = %q, want deleted message left out", got)
	}
	c.expect("UIDL", "+OK")
	if got := c.lines(); len(got) != 1 || got[0] != uidls[1] {
		t.Errorf("UIDL after DELE 1 = %q, want %q", got, uidls[1:])
	}
	c.expect("CAPA", "+OK")
	capa := strings.Join(c.lines(), "|")
	for _, want := range []string{"TOP", "UIDL", "RESP-CODES", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION Petrel"} {
		if !strings.Contains("|"+capa+"|", "|"+want+"|") {
			t.Errorf("CAPA in TRANSACTION = %q, missing %q", capa, want)
		}
	}
	for _, not := range []string{"STLS", "USER", "SASL PLAIN"} {
		if strings.Contains("|"+capa+"|", "|"+not+"|") {
			t.Errorf("CAPA in TRANSACTION = %q, should not offer %q", capa, not)
		}
	}
}

// TestCapaBeforeLogin checks the AUTHORIZATION-state capabilities on a
// plain loopback connection.
func TestCapaBeforeLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.dial(t)
	c.expect("CAPA", "+OK")
	capa := "|" + strings.Join(c.lines(), "|") + "|"
	for _, want := range []string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "SASL PLAIN", "STLS", "IMPLEMENTATION Petrel"} {
		if !strings.Contains(capa, "|"+want+"|") {
			t.Errorf("CAPA = %q, missing %q", capa, want)
		}
	}
	c.expect("CAPA x", "-ERR")
	c.expect("AUTH", "+OK")
	if got := c.lines(); len(got) != 1 || got[0] != "PLAIN" {
		t.Errorf("AUTH list = %q, want [PLAIN]", got)
	}
}

// TestPipelining sends every command in one write (RFC 2449 PIPELINING)
// and checks the replies come back in order.
func TestPipelining(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: a\r\n\r\nA\r\n", "Subject: b\r\n\r\nBB\r\n")
	c := e.dial(t)
	c.send("USER alice@example.org\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nLIST 2\r\nRETR 2\r\nDELE 1\r\nQUIT")
	for _, want := range []string{"+OK send PASS", "+OK maildrop has 2", "+OK 2 35", "+OK 17 octets"} {
		if got := c.line(); !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got := string(c.body()); got != "Subject: a\r\n\r\nA\r\n" {
		t.Fatalf("RETR 1 = %q", got)
	}
	if got := c.line(); got != "+OK 2 18" {
		t.Fatalf("LIST 2 = %q", got)
	}
	c.line()
	if got := string(c.body()); got != "Subject: b\r\n\r\nBB\r\n" {
		t.Fatalf("RETR 2 = %q", got)
	}
	for _, want := range []string{"+OK message 1 deleted", "+OK pop.example.org POP3 server signing off (1 message left)"} {
		if got := c.line(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	c.expectEOF()
	if got := e.inboxUIDs(t); len(got) != 1 {
		t.Errorf("INBOX after QUIT has %v, want one message", got)
	}
}
