package mta

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// A client whose lines end in a bare LF (nc without -C) gets a permanent
// error saying so at the first such line of its data, at once, and the
// session ends; LF.LF never ends the data (SMTP smuggling), so nothing
// after it is run as a command or stored (issue 13.4).
func TestBareLF(t *testing.T) {
	ts := newTestServer(t) // DataTimeout: 10 minutes
	for _, tc := range []struct{ name, data string }{
		{"nc without -C", "Subject: hi\n\nDo you like ketchup?\n.\n"},
		{"smuggling", "Subject: hi\r\n\r\nhello\r\n\n.\nMAIL FROM:<eve@crepes.fr>\r\nRCPT TO:<alice@hamburger.edu>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"},
		{"LF after a header field", "Subject: hi\nFrom: a@crepes.fr\r\n\r\nx\r\n.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("HELO crepes.fr", 250)
			d.expect("MAIL FROM:<alice@crepes.fr>", 250)
			d.expect("RCPT TO:<bob@hamburger.edu>", 250)
			d.expect("DATA", 354)
			start := time.Now()
			io.WriteString(d.conn, tc.data)
			d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			code, msg := d.read()
			// After HELO (not EHLO) the reply has no enhanced status code
			// (RFC 2034).
			if code != 554 || !strings.HasPrefix(msg, "Bare LF") || !strings.Contains(msg, "CRLF") {
				t.Fatalf("bare LF: %d %s, want 554 Bare LF … CRLF", code, msg)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the reply took %v", took)
			}
			rest, err := io.ReadAll(bufio.NewReader(d.conn))
			if err != nil || len(rest) != 0 {
				t.Errorf("after the reply: %q, %v; want the connection closed", rest, err)
			}
		})
	}
	for _, addr := range []string{"bob@hamburger.edu", "alice@hamburger.edu"} {
		if _, msgs := inbox(t, ts.store, addr); len(msgs) != 0 {
			t.Errorf("%s got %d messages", addr, len(msgs))
		}
	}
}

// A client that pauses in its data for longer than the poll that looks for
// bare LFs loses nothing, in clear text and over TLS: the poll's deadline
// is not final (the session's data timeout is). And a bare LF over TLS is
// refused as in clear text.
func TestDataPauseAndBareLFOverTLS(t *testing.T) {
	ts := newTestServer(t)
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			start := func() *dialog {
				d := dial(t, ts.smtpAddr)
				d.read()
				d.expect("EHLO crepes.fr", 250)
				if useTLS {
					d.startTLS(ts.clientTLS)
					d.expect("EHLO crepes.fr", 250)
				}
				d.expect("MAIL FROM:<alice@crepes.fr>", 250)
				d.expect("RCPT TO:<bob@hamburger.edu>", 250)
				d.expect("DATA", 354)
				return d
			}
			d := start()
			io.WriteString(d.conn, "Subject: pause\r\n\r\nfirst half, ")
			time.Sleep(dataPoll + dataPoll/2) // the stimulus: a client that pauses
			io.WriteString(d.conn, "second half\r\n.\r\n")
			if code, msg := d.read(); code != 250 {
				t.Fatalf("after a pause: %d %s", code, msg)
			}
			d.expect("QUIT", 221)
			_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
			if last := string(msgs[len(msgs)-1]); !strings.HasSuffix(last, "\r\n\r\nfirst half, second half\r\n") {
				t.Errorf("stored %q", last)
			}

			d = start()
			io.WriteString(d.conn, "Subject: bare\n\nx\n.\n")
			if code, msg := d.read(); code != 554 || !strings.Contains(msg, "CRLF") {
				t.Fatalf("bare LF: %d %s", code, msg)
			}
			if rest, _ := io.ReadAll(d.conn); len(rest) != 0 {
				t.Errorf("after the reply: %q", rest)
			}
		})
	}
}

// BDAT (CHUNKING) has no end-of-data marker to smuggle: a chunk with a
// bare LF is refused and the session goes on; a pause between chunks
// longer than the bare-LF poll costs nothing.
func TestBDATPauseAndBareLF(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	first := "Subject: chunks\r\n\r\none, "
	fmt.Fprintf(d.conn, "BDAT %d\r\n%s", len(first), first)
	if code, msg := d.read(); code != 250 {
		t.Fatalf("first chunk: %d %s", code, msg)
	}
	time.Sleep(dataPoll + dataPoll/2) // the stimulus: a client that pauses
	last := "two\r\n"
	fmt.Fprintf(d.conn, "BDAT %d LAST\r\n%s", len(last), last)
	if code, msg := d.read(); code != 250 {
		t.Fatalf("last chunk after a pause: %d %s", code, msg)
	}
	d.expect("MAIL FROM:<alice@crepes.fr>", 250)
	d.expect("RCPT TO:<bob@hamburger.edu>", 250)
	bare := "Subject: bare\n\nx\n"
	fmt.Fprintf(d.conn, "BDAT %d LAST\r\n%s", len(bare), bare)
	if code, msg := d.read(); code != 554 || !strings.Contains(msg, "CRLF") {
		t.Fatalf("bare LF in BDAT: %d %s", code, msg)
	}
	d.expect("NOOP", 250)
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 1 || !strings.HasSuffix(string(msgs[0]), "\r\n\r\none, two\r\n") {
		t.Errorf("stored %q", msgs)
	}
}
