package mta

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawSession writes each line of script (CRLF added) after the greeting,
// one at a time, and returns the whole reply to each, lines joined by \n.
func rawSession(t *testing.T, addr string, script []string) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	readReply := func() string {
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply after %q: %v", lines, err)
			}
			if !strings.HasSuffix(l, "\r\n") {
				t.Fatalf("reply line %q does not end in CRLF", l)
			}
			lines = append(lines, strings.TrimSuffix(l, "\r\n"))
			if len(l) < 4 || l[3] != '-' {
				return strings.Join(lines, "\n")
			}
		}
	}
	readReply() // greeting
	var out []string
	for _, l := range script {
		if _, err := io.WriteString(c, l+"\r\n"); err != nil {
			t.Fatal(err)
		}
		out = append(out, readReply())
	}
	return out
}

// TestSequenceErrors: a command out of sequence is 503 5.5.1 (RFC 5321
// 4.3.2), not go-smtp's 502 (command not implemented), and the session
// goes on. Before EHLO the enhanced code is left out (RFC 2034).
func TestSequenceErrors(t *testing.T) {
	ts := newTestServer(t)
	const mail, rcpt = "MAIL FROM:<alice@crepes.fr>", "RCPT TO:<bob@hamburger.edu>"
	cases := []struct {
		name   string
		addr   string
		script []string // none but the last is out of sequence
		want   string   // the last reply
	}{
		{"MAIL before HELO", ts.smtpAddr, []string{mail}, "503 Send HELO or EHLO first"},
		{"RCPT before MAIL", ts.smtpAddr, []string{"EHLO crepes.fr", rcpt}, "503 5.5.1 Need MAIL before RCPT"},
		{"RCPT before MAIL after HELO", ts.smtpAddr, []string{"HELO crepes.fr", rcpt}, "503 Need MAIL before RCPT"},
		{"DATA before MAIL", ts.smtpAddr, []string{"EHLO crepes.fr", "DATA"}, "503 5.5.1 Need MAIL and RCPT before DATA"},
		{"DATA before RCPT", ts.smtpAddr, []string{"EHLO crepes.fr", mail, "DATA"}, "503 5.5.1 Need RCPT before DATA"},
		{"DATA after a refused RCPT", ts.smtpAddr, []string{"EHLO crepes.fr", mail, "RCPT TO:<nobody@hamburger.edu>", "DATA"}, "503 5.5.1 Need RCPT before DATA"},
		{"RSET then DATA", ts.smtpAddr, []string{"EHLO crepes.fr", mail, rcpt, "RSET", "DATA"}, "503 5.5.1 Need MAIL and RCPT before DATA"},
		{"second MAIL", ts.smtpAddr, []string{"EHLO crepes.fr", mail, mail}, "503 5.5.1 Nested MAIL command: a transaction is in progress (RSET ends it)"},
		{"BDAT before RCPT", ts.smtpAddr, []string{"EHLO crepes.fr", mail, "BDAT 0 LAST"}, "503 5.5.1 Need RCPT before BDAT"},
		{"AUTH before EHLO", ts.subAddr, []string{"AUTH PLAIN"}, "503 Send EHLO first"},
		{"AUTH after HELO", ts.subAddr, []string{"HELO crepes.fr", "AUTH PLAIN"}, "503 Send EHLO first"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rawSession(t, c.addr, append(c.script, "NOOP"))
			for i, r := range got[:len(c.script)-1] {
				if strings.HasPrefix(r, "503") {
					t.Fatalf("%q: %q", c.script[i], r)
				}
			}
			if last := got[len(c.script)-1]; last != c.want {
				t.Errorf("%q: got %q, want %q", c.script[len(c.script)-1], last, c.want)
			}
			if noop := got[len(got)-1]; !strings.HasPrefix(noop, "250 ") {
				t.Errorf("NOOP after it: %q", noop)
			}
		})
	}
}

var (
	withEnhanced    = regexp.MustCompile(`^[245]\d\d [245]\.\d{1,3}\.\d{1,3} `)
	withoutEnhanced = regexp.MustCompile(`^\d\d\d [^0-9]`)
)

// TestHeloVsEhloReplies: after HELO no reply has an enhanced status code,
// after EHLO (which offers ENHANCEDSTATUSCODES) every 2xx/4xx/5xx one has
// (RFC 2034 3); HELO's and EHLO's replies begin with the server's name
// (RFC 5321 4.1.1.1).
func TestHeloVsEhloReplies(t *testing.T) {
	ts := newTestServer(t)
	script := []string{"MAIL FROM:<alice@crepes.fr>", "RCPT TO:<bob@hamburger.edu>", "RCPT TO:<nobody@hamburger.edu>",
		"DATA", "Subject: hi\r\n\r\nhello\r\n.", "NOOP", "RSET", "VRFY bob", "HELP", "BOGUS", "EXPN list", "MAIL FROM:<a@crepes.fr> FOO=1", "QUIT"}

	helo := rawSession(t, ts.smtpAddr, append([]string{"HELO crepes.fr"}, script...))
	if helo[0] != "250 mx.hamburger.edu Hello crepes.fr" {
		t.Errorf("HELO reply %q, want %q", helo[0], "250 mx.hamburger.edu Hello crepes.fr")
	}
	for i, r := range helo {
		if !withoutEnhanced.MatchString(r) {
			t.Errorf("after HELO, the reply to %q has an enhanced code: %q", append([]string{"HELO"}, script...)[i], r)
		}
	}

	ehlo := rawSession(t, ts.smtpAddr, append([]string{"EHLO crepes.fr"}, script...))
	if !strings.HasPrefix(ehlo[0], "250-mx.hamburger.edu Hello crepes.fr\n") || !strings.Contains(ehlo[0], "\n250-ENHANCEDSTATUSCODES\n") {
		t.Errorf("EHLO reply %q", ehlo[0])
	}
	for i, r := range ehlo[1:] {
		if strings.HasPrefix(r, "354 ") {
			continue
		}
		if !withEnhanced.MatchString(r) {
			t.Errorf("after EHLO, the reply to %q has no enhanced code: %q", script[i], r)
		}
	}
	for i, want := range []string{"250 2.1.0 ", "250 2.1.5 ", "550 5.1.1 ", "354 ", "250 2.0.0 OK: queued as ", "250 2.0.0 ", "250 2.0.0 ", "252 2.5.0 ", "214 2.0.0 ", "500 5.5.2 ", "502 5.5.1 ", "555 5.5.4 ", "221 2.0.0 "} {
		if !strings.HasPrefix(ehlo[i+1], want) {
			t.Errorf("%q: %q, want %s…", script[i], ehlo[i+1], want)
		}
	}
}

// TestParameters: MAIL and RCPT parameters of the extensions offered are
// taken, others are 555 (RFC 5321 4.1.1.11), bad values 501.
func TestParameters(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct{ cmd, want string }{
		{"MAIL FROM:<a@crepes.fr> SIZE=100 BODY=8BITMIME SMTPUTF8", "250 "},
		{"MAIL FROM:<a@crepes.fr> BODY=7bit AUTH=<>", "250 "},
		{"MAIL FROM:<a@crepes.fr> AUTH=alice+2Btag@crepes.fr", "250 "},
		{"MAIL FROM: <a@crepes.fr>", "250 "},
		{"MAIL FROM:<> ", "250 "},
		{"MAIL FROM:<@relay.example:a@crepes.fr>", "250 "},
		{"MAIL FROM:<a@crepes.fr> SIZE=big", "501 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr> SIZE=1 SIZE=2", "501 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr> SIZE=99999999999", "552 5.3.4 "},
		{"MAIL FROM:<a@crepes.fr> BODY=BINARYMIME", "555 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr> BODY=9BIT", "501 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr> SMTPUTF8=yes", "501 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr> RET=FULL", "555 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr> AUTH=+4", "501 5.5.4 "},
		{"MAIL FROM:<a@crepes.fr", "501 5.5.2 "},
		{"MAIL FROM:a@crepes.fr>", "501 5.5.2 "},
		{"MAIL TO:<a@crepes.fr>", "501 5.5.2 "},
		{"MAIL FROM:<@crepes.fr>", "501 5.5.2 "},
	}
	for _, c := range cases {
		t.Run(c.cmd, func(t *testing.T) {
			got := rawSession(t, ts.smtpAddr, []string{"EHLO crepes.fr", c.cmd})
			if !strings.HasPrefix(got[1], c.want) {
				t.Errorf("%q: %q, want %s…", c.cmd, got[1], c.want)
			}
		})
	}
	for _, c := range []struct{ cmd, want string }{
		{"RCPT TO:<bob@hamburger.edu> NOTIFY=NEVER", "555 5.5.4 "},
		{"RCPT TO:<Postmaster>", "250 "},
		{"RCPT TO:<bob@hamburger.edu>junk", "501 5.5.2 "},
		{"RCPT FROM:<bob@hamburger.edu>", "501 5.5.2 "},
		{`RCPT TO:<"bob"@hamburger.edu>`, "250 "},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			got := rawSession(t, ts.smtpAddr, []string{"EHLO crepes.fr", "MAIL FROM:<a@crepes.fr>", c.cmd})
			if !strings.HasPrefix(got[2], c.want) {
				t.Errorf("%q: %q, want %s…", c.cmd, got[2], c.want)
			}
		})
	}
}

// TestPipelining: a whole transaction in one write (RFC 2920) gets its
// replies in order, and the message is stored once.
func TestPipelining(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	io.WriteString(d.conn, "MAIL FROM:<alice@crepes.fr>\r\nRCPT TO:<bob@hamburger.edu>\r\nRCPT TO:<nobody@hamburger.edu>\r\nDATA\r\n")
	for _, want := range []int{250, 250, 550, 354} {
		if code, msg := d.read(); code != want {
			t.Fatalf("got %d %s, want %d", code, msg, want)
		}
	}
	io.WriteString(d.conn, "Subject: piped\r\n\r\n..dot\r\n.\r\nNOOP\r\nQUIT\r\n")
	for _, want := range []int{250, 250, 221} {
		if code, msg := d.read(); code != want {
			t.Fatalf("got %d %s, want %d", code, msg, want)
		}
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 1 || !strings.HasSuffix(string(msgs[0]), "\r\n\r\n.dot\r\n") {
		t.Fatalf("stored %q", msgs)
	}
}

// TestBDAT: CHUNKING (RFC 3030): chunks, one of size 0, LAST; a bad size
// ends the session (where the chunk ends is unknown); a chunk after a
// refused command is read and dropped, not run as commands.
func TestBDAT(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.MaxMessageBytes = 1000 })
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	io.WriteString(d.conn, "BDAT 20\r\nSubject: chunked\r\n\r\n")
	if code, msg := d.read(); code != 250 {
		t.Fatalf("first chunk: %d %s", code, msg)
	}
	io.WriteString(d.conn, "BDAT 0\r\n")
	d.read()
	io.WriteString(d.conn, "BDAT 9 LAST\r\nbody\r\n.\r\n")
	if code, msg := d.read(); code != 250 || !strings.Contains(msg, "queued") {
		t.Fatalf("LAST chunk: %d %s", code, msg)
	}
	// A chunk with no transaction: dropped whole.
	io.WriteString(d.conn, "BDAT 6 LAST\r\nQUIT\r\n")
	if code, _ := d.read(); code != 503 {
		t.Fatalf("BDAT outside a transaction: %d", code)
	}
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	io.WriteString(d.conn, "BDAT 2000 LAST\r\n"+strings.Repeat("x", 2000))
	if code, msg := d.read(); code != 552 {
		t.Fatalf("chunk over the size limit: %d %s", code, msg)
	}
	d.expect("NOOP", 250)
	if code, _ := d.send("BDAT x"); code != 501 {
		t.Fatalf("BDAT x: %d", code)
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 1 || !strings.HasSuffix(string(msgs[0]), "Subject: chunked\r\n\r\nbody\r\n.\r\n") {
		t.Fatalf("stored %q", msgs)
	}
}

// TestSTARTTLSInjection: commands pipelined in clear text after STARTTLS
// (CVE-2011-0411's attack) are dropped, never run inside the TLS session.
func TestSTARTTLSInjection(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	io.WriteString(d.conn, "STARTTLS\r\nMAIL FROM:<mallory@crepes.fr>\r\n")
	if code, _ := d.read(); code != 220 {
		t.Fatalf("STARTTLS: %d", code)
	}
	tc := tls.Client(d.conn, ts.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = dialConn(t, tc)
	// Had the injected MAIL run, this RCPT would be accepted and the MAIL
	// refused as nested.
	d.expect("EHLO crepes.fr", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 503)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("STARTTLS", 503)
}

// TestAuthExchange: AUTH with and without an initial response, "*" to
// cancel, bad base64, and a second AUTH.
func TestAuthExchange(t *testing.T) {
	ts := newTestServer(t)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	d := dial(t, ts.subAddr) // loopback: AUTH without TLS
	d.read()
	d.expect("EHLO client", 250)
	d.expect("AUTH PLAIN", 334)
	if code, msg := d.send("*"); code != 501 || !strings.Contains(msg, "cancelled") {
		t.Fatalf("*: %d %s", code, msg)
	}
	if code, _ := d.send("AUTH PLAIN !!!"); code != 501 {
		t.Fatalf("bad base64: %d", code)
	}
	if code, _ := d.send("AUTH CRAM-MD5"); code != 504 {
		t.Fatalf("unknown mechanism: %d", code)
	}
	if code, _ := d.send("AUTH PLAIN " + b64("\x00bob@hamburger.edu\x00wrong")); code != 535 {
		t.Fatalf("wrong password: %d", code)
	}
	d.expect("AUTH LOGIN "+b64("bob@hamburger.edu"), 334)
	d.expect(b64("secret"), 235)
	d.expect("AUTH PLAIN", 503)
	d.expect("MAIL FROM:<bob@hamburger.edu>", 250)
}

// TestShutdownIdle: a session waiting for a command is told 421 4.3.2 at
// shutdown, at once.
func TestShutdownIdle(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	ts.mta.Shutdown(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	if code, msg := d.read(); code != 421 || !strings.HasPrefix(msg, "4.3.2") {
		t.Errorf("idle session at shutdown: %d %s", code, msg)
	}
}

// TestDotReader: dot-unstuffing and the end of the data; only CRLF.CRLF
// ends it, never LF.LF (SMTP smuggling).
func TestDotReader(t *testing.T) {
	cases := []struct{ in, want, rest string }{
		{"a\r\n.\r\nNOOP", "a\r\n", "NOOP"},
		{".\r\n", "", ""},
		{"..a\r\n.\r\n", ".a\r\n", ""},
		{"a\r\n..\r\n.\r\n", "a\r\n.\r\n", ""},
		{"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", ""},
		{"a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", ""},
		{"a\r\n.x\r\n.\r\n", "a\r\nx\r\n", ""},
	}
	for _, c := range cases {
		br := bufio.NewReader(strings.NewReader(c.in))
		got, err := io.ReadAll(&dotReader{r: br})
		rest, _ := io.ReadAll(br)
		if err != nil || string(got) != c.want || string(rest) != c.rest {
			t.Errorf("%q: got %q (rest %q, %v), want %q (rest %q)", c.in, got, rest, err, c.want, c.rest)
		}
	}
	if _, err := io.ReadAll(&dotReader{r: bufio.NewReader(strings.NewReader("a\r\nb\r\n"))}); err != io.ErrUnexpectedEOF {
		t.Errorf("no final dot: %v, want io.ErrUnexpectedEOF", err)
	}
}

// BenchmarkDotReader reads a 1 MiB message of 80-byte lines through the
// dot-unstuffing reader.
func BenchmarkDotReader(b *testing.B) {
	msg := strings.Repeat(strings.Repeat("x", 78)+"\r\n", (1<<20)/80) + ".\r\n"
	b.SetBytes(int64(len(msg)))
	buf := make([]byte, 32<<10)
	for b.Loop() {
		d := &dotReader{r: bufio.NewReader(strings.NewReader(msg))}
		for {
			if _, err := d.Read(buf); err != nil {
				break
			}
		}
	}
}
