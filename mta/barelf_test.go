package mta

import (
	"bufio"
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
