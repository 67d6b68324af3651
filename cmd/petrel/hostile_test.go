package main

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"petrel/dnsmx/dnsmxtest"
)

// hostileMessages are messages built to cost a mail server: 10,000 MIME
// parts, multiparts nested 1,000 deep, message/rfc822 nested 1,000 deep,
// and a header of 1 MiB.
func hostileMessages() []struct{ name, msg string } {
	var many strings.Builder
	many.WriteString("Subject: many parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := range 10000 {
		fmt.Fprintf(&many, "--b\r\nContent-Type: text/plain\r\n\r\npart %d marker-part-%d\r\n", i, i)
	}
	many.WriteString("--b--\r\n")

	var deep strings.Builder
	deep.WriteString("Subject: deep multipart\r\n")
	for i := range 1000 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nmarker-deep\r\n")
	for i := 999; i >= 0; i-- {
		fmt.Fprintf(&deep, "--b%d--\r\n", i)
	}

	var rfc822 strings.Builder
	rfc822.WriteString("Subject: deep rfc822\r\n")
	for range 1000 {
		rfc822.WriteString("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n")
	}
	rfc822.WriteString("\r\nmarker-822\r\n")

	var big strings.Builder
	big.WriteString("Subject: big header\r\n")
	for i := 0; big.Len() < 1<<20-200; i++ {
		fmt.Fprintf(&big, "X-Filler-%05d: %s\r\n", i, strings.Repeat("x", 80))
	}
	big.WriteString("\r\nmarker-bighdr\r\n")
	return []struct{ name, msg string }{
		{"10,000 parts", many.String()}, {"multipart depth 1,000", deep.String()},
		{"message/rfc822 depth 1,000", rfc822.String()}, {"1 MiB header", big.String()},
	}
}

// imapCmd sends a tagged command on a raw connection and returns every line
// up to its tagged reply, failing unless that is OK.
func imapCmd(t *testing.T, c net.Conn, br *bufio.Reader, tag, cmd string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "%s %s\r\n", tag, cmd)
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v after %d bytes (a crash or a hang?)", cmd, err, b.Len())
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				t.Fatalf("%s: %s", cmd, l)
			}
			return b.String()
		}
		b.WriteString(l)
	}
}

// maxNesting is the deepest parenthesis nesting of s.
func maxNesting(s string) int {
	d, m := 0, 0
	for _, c := range s {
		switch c {
		case '(':
			d++
			m = max(m, d)
		case ')':
			d--
		}
	}
	return m
}

// TestHostileMIMEOverSMTPAndIMAP delivers the hostile messages over SMTP
// (port 25, checks and all) to a running petrel, then reads them over IMAP:
// BODYSTRUCTURE, ENVELOPE, sections and SEARCH answer, within the store's
// limits (at most 10,000 parts, 64 levels: deeper or further parts are
// opaque bodies), without a crash or a hang, and the server serves on.
func TestHostileMIMEOverSMTPAndIMAP(t *testing.T) {
	dns := dnsmxtest.Start(t)
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t), extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	if _, errOut, code := in.petrel("bob-pw\n", "user", "add", "--force", "bob@hamburger.edu"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	in.start()
	msgs := hostileMessages()
	for _, m := range msgs {
		start := time.Now()
		if err := sendMail(in.smtpAddr, "alice@crepes.fr", "bob@hamburger.edu", m.msg); err != nil {
			t.Fatalf("%s (%d bytes) over SMTP: %v", m.name, len(m.msg), err)
		}
		t.Logf("%s: %d bytes delivered in %v", m.name, len(m.msg), time.Since(start).Round(time.Millisecond))
	}

	c, err := net.Dial("tcp", in.imapAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	if g, _ := br.ReadString('\n'); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	imapCmd(t, c, br, "a1", "LOGIN bob@hamburger.edu bob-pw")
	if out := imapCmd(t, c, br, "a2", "SELECT INBOX"); !strings.Contains(out, fmt.Sprintf("* %d EXISTS", len(msgs))) {
		t.Fatalf("SELECT: %s", out)
	}
	timed := func(tag, cmd string) string {
		start := time.Now()
		out := imapCmd(t, c, br, tag, cmd)
		t.Logf("%s: %d bytes in %v", cmd, len(out), time.Since(start).Round(time.Millisecond))
		return out
	}

	// 10,000 parts: the first 9,999 are listed (the top part counts against
	// the limit), each a text/plain.
	out := timed("b1", "FETCH 1 BODYSTRUCTURE")
	n := strings.Count(strings.ToUpper(out), `("TEXT" "PLAIN"`)
	if n < 9000 || n > 10000 {
		t.Errorf("10,000 parts: BODYSTRUCTURE lists %d text/plain parts", n)
	}
	t.Logf("10,000 parts: BODYSTRUCTURE lists %d", n)
	if out := timed("b2", "FETCH 1 BODY.PEEK[9999]"); !strings.Contains(out, "marker-part-9998") {
		t.Errorf("BODY[9999]: %.200q", out)
	}
	if out := timed("b3", "SEARCH BODY marker-part-5000"); !strings.Contains(out, "* SEARCH 1") {
		t.Errorf("SEARCH BODY in part 5001: %q", out)
	}

	// Nesting: the structure stops at 64 levels; the response stays small.
	for i, seq := range []string{"2", "3"} {
		out := timed(fmt.Sprintf("c%d", i), "FETCH "+seq+" (BODYSTRUCTURE ENVELOPE)")
		if d := maxNesting(out); d > 300 {
			t.Errorf("message %s: BODYSTRUCTURE nested %d deep", seq, d)
		}
		if !strings.Contains(out, `"deep `) {
			t.Errorf("message %s: no ENVELOPE subject: %.300q", seq, out)
		}
		section := strings.TrimSuffix(strings.Repeat("1.", 40), ".")
		imapCmd(t, c, br, fmt.Sprintf("d%d", i), "FETCH "+seq+" BODY.PEEK["+section+"]")
	}
	timed("e1", "SEARCH TEXT marker-deep")
	timed("e2", "SEARCH BODY marker-822")

	// 1 MiB header: parsed (it is within the store's 1 MiB), searchable.
	out = timed("f1", "FETCH 4 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.SIZE)")
	if !strings.Contains(out, `"big header"`) {
		t.Errorf("1 MiB header: ENVELOPE lacks the subject: %.300q", out)
	}
	if out := timed("f2", "SEARCH HEADER X-Filler-09000 xxxx"); !regexp.MustCompile(`\* SEARCH 4\r\n`).MatchString(out) {
		t.Errorf("SEARCH HEADER in the 1 MiB header: %q", out)
	}
	if out := timed("f3", "FETCH 4 BODY.PEEK[HEADER]"); len(out) < 1<<20-1000 {
		t.Errorf("BODY[HEADER] of the 1 MiB header: %d bytes", len(out))
	}
	if out := timed("g1", "SEARCH ALL"); !strings.Contains(out, "* SEARCH 1 2 3 4") {
		t.Errorf("SEARCH ALL: %q", out)
	}
	imapCmd(t, c, br, "z1", "LOGOUT")
	// And SMTP still takes mail.
	if err := sendMail(in.smtpAddr, "alice@crepes.fr", "bob@hamburger.edu", "Subject: after\r\n\r\nok\r\n"); err != nil {
		t.Fatalf("after the hostile messages: %v", err)
	}
}
