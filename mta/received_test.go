package mta

import (
	"encoding/base64"
	"regexp"
	"testing"
)

// The Received field names the protocol as RFC 3848 does: SMTP after HELO,
// ESMTP after EHLO, with S for TLS and A for AUTH (issue 13.3).
func TestReceivedProtocol(t *testing.T) {
	ts := newTestServer(t)
	plain := base64.StdEncoding.EncodeToString([]byte("\x00bob@hamburger.edu\x00secret"))
	for _, tc := range []struct {
		name     string
		sub      bool
		greet    string
		starttls bool
		auth     bool
		want     string
	}{
		{"HELO", false, "HELO", false, false, "SMTP"},
		{"EHLO", false, "EHLO", false, false, "ESMTP"},
		{"EHLO and STARTTLS", false, "EHLO", true, false, "ESMTPS"},
		{"HELO after STARTTLS", false, "HELO", true, false, "ESMTPS"},
		{"AUTH from loopback", true, "EHLO", false, true, "ESMTPA"},
		{"AUTH over TLS", true, "EHLO", true, true, "ESMTPSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, from := ts.smtpAddr, "alice@crepes.fr"
			if tc.sub {
				addr, from = ts.subAddr, "bob@hamburger.edu"
			}
			d := dial(t, addr)
			d.read()
			if tc.starttls {
				d.expect("EHLO crepes.fr", 250)
				d.startTLS(ts.clientTLS)
			}
			d.expect(tc.greet+" crepes.fr", 250)
			if tc.auth {
				d.expect("AUTH PLAIN "+plain, 235)
			}
			d.expect("MAIL FROM:<"+from+">", 250)
			d.expect("RCPT TO:<alice@hamburger.edu>", 250)
			d.expect("DATA", 354)
			d.tp.PrintfLine("Subject: %s\r\n\r\nx\r\n.", tc.name)
			if code, msg := d.read(); code != 250 {
				t.Fatalf("DATA: %d %s", code, msg)
			}
			_, msgs := inbox(t, ts.store, "alice@hamburger.edu")
			last := msgs[len(msgs)-1]
			re := regexp.MustCompile(`by mx\.hamburger\.edu with (\w+) id`)
			if m := re.FindSubmatch(last); m == nil || string(m[1]) != tc.want {
				t.Errorf("Received says %q, want with %s:\n%s", m, tc.want, last)
			}
		})
	}
}
