package pop3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"petrel/store"
)

// TestOctets checks that STAT, LIST and RETR's "+OK n octets" give the
// exact size of what RETR sends (after un-stuffing), and that it sends the
// message with CRLF line ends whatever the store holds.
func TestOctets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		prefix string // per-recipient prefix (Received…)
		stored string
		want   string // what the client must get
	}{
		{"plain", "", "Subject: p\r\n\r\nhello\r\n", "Subject: p\r\n\r\nhello\r\n"},
		{"lines starting with dots", "", "Subject: d\r\n\r\n.\r\n..\r\n.x\r\nend\r\n", "Subject: d\r\n\r\n.\r\n..\r\n.x\r\nend\r\n"},
		{"8-bit", "", "Subject: caf\xc3\xa9\r\n\r\n\xff\xfe\x80 na\xefve\r\n\x00nul\r\n", "Subject: caf\xc3\xa9\r\n\r\n\xff\xfe\x80 na\xefve\r\n\x00nul\r\n"},
		{"no trailing newline", "", "Subject: n\r\n\r\nlast line", "Subject: n\r\n\r\nlast line\r\n"},
		{"ends in a dot", "", "Subject: n\r\n\r\n.", "Subject: n\r\n\r\n.\r\n"},
		{"bare LF", "", "Subject: l\n\nline1\nline2\n", "Subject: l\r\n\r\nline1\r\nline2\r\n"},
		{"bare CR at the end", "", "Subject: c\r\n\r\nx\r", "Subject: c\r\n\r\nx\r\n"},
		{"header only", "", "Subject: e\r\n\r\n", "Subject: e\r\n\r\n"},
		{"with prefix", "Received: by test; Wed, 25 Nov 2026 06:00:00 +0000\r\n", "Subject: r\r\n\r\n.dot\r\n", "Received: by test; Wed, 25 Nov 2026 06:00:00 +0000\r\nSubject: r\r\n\r\n.dot\r\n"},
	}
	e := newEnv(t)
	var total int
	for _, tc := range cases {
		_, err := e.st.Deliver(context.Background(), &store.Delivery{
			Body:    []byte(tc.stored),
			Targets: []store.Target{{Account: e.acct.ID, Prefix: []byte(tc.prefix)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		total += len(tc.want)
	}
	c := e.login(t)
	c.expect("STAT", fmt.Sprintf("+OK %d %d", len(cases), total))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			n := i + 1
			c.expect(fmt.Sprintf("LIST %d", n), fmt.Sprintf("+OK %d %d", n, len(tc.want)))
			c.expect(fmt.Sprintf("RETR %d", n), fmt.Sprintf("+OK %d octets", len(tc.want)))
			if got := string(c.body()); got != tc.want {
				t.Errorf("RETR %d = %q, want %q", n, got, tc.want)
			}
		})
	}
	c.t = t

	// On the wire, lines starting with a dot get one more.
	c.send("RETR 2")
	c.line()
	raw := c.raw()
	if want := "Subject: d\r\n\r\n..\r\n...\r\n..x\r\nend\r\n.\r\n"; raw != want {
		t.Errorf("RETR 2 on the wire = %q, want %q", raw, want)
	}
}

// raw reads a multi-line reply as sent, terminator included.
func (c *client) raw() string {
	c.t.Helper()
	var b strings.Builder
	for {
		l := c.line()
		b.WriteString(l + "\r\n")
		if l == "." {
			return b.String()
		}
	}
}

// TestOctetsLarge retrieves a 10 MiB message with dot lines and 8-bit
// bytes and checks its size and digest.
func TestOctetsLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var body bytes.Buffer
	body.WriteString("Subject: big\r\n\r\n")
	for i := 0; body.Len() < 10<<20; i++ {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&body, ".line %d\r\n", i)
		case 1:
			fmt.Fprintf(&body, "caf\xc3\xa9 %d \xff\r\n", i)
		default:
			fmt.Fprintf(&body, "%s\r\n", strings.Repeat("x", 200))
		}
	}
	msg := body.Bytes()
	e.deliver(t, string(msg))
	c := e.login(t)
	c.expect("LIST 1", fmt.Sprintf("+OK 1 %d", len(msg)))
	c.expect("RETR 1", fmt.Sprintf("+OK %d octets", len(msg)))
	got := c.body()
	if len(got) != len(msg) || sha256.Sum256(got) != sha256.Sum256(msg) {
		t.Errorf("RETR of 10 MiB: got %d octets, want %d, digests differ", len(got), len(msg))
	}
	c.expect("QUIT", "+OK")
}

// TestTop checks TOP's header, blank line and body line count.
func TestTop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t,
		"H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n.l3\r\nl4",
		"H1: only a header\r\nH2: b\r\n",
		"H: a\n\nb1\nb2\n",
	)
	cases := []struct {
		cmd, want string
	}{
		{"TOP 1 0", "H1: a\r\nH2: b\r\n\r\n"},
		{"TOP 1 2", "H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n"},
		{"TOP 1 3", "H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n.l3\r\n"},
		{"TOP 1 4", "H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n.l3\r\nl4\r\n"},
		{"TOP 1 100", "H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n.l3\r\nl4\r\n"},
		{"TOP 2 0", "H1: only a header\r\nH2: b\r\n"},
		{"TOP 3 1", "H: a\r\n\r\nb1\r\n"},
	}
	c := e.login(t)
	for _, tc := range cases {
		t.Run(tc.cmd, func(t *testing.T) {
			c.t = t
			c.expect(tc.cmd, "+OK")
			if got := string(c.body()); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.cmd, got, tc.want)
			}
		})
	}
	c.t = t
	c.expect("QUIT", "+OK")
	msgs, err := e.st.List(e.inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Has(store.FlagSeen) {
			t.Errorf("UID %d is \\Seen after TOP only", m.UID)
		}
	}
}
