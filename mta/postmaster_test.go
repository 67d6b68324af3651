package mta

import (
	"strings"
	"testing"
	"time"
)

// postmaster@ and abuse@ of a local domain, and postmaster alone, are
// always accepted and reach the postmaster (the account made first, or
// Options.Postmaster); never an address of another domain (issue 13.5,
// issue 18.8).
func TestPostmaster(t *testing.T) {
	for _, tc := range []struct {
		name       string
		postmaster string
		want       string // the account that gets the mail
	}{
		{"the account made first", "", "bob@hamburger.edu"},
		{"configured", "alice@hamburger.edu", "alice@hamburger.edu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(o *Options) { o.Postmaster = tc.postmaster })
			rcpts := []string{"postmaster@hamburger.edu", "abuse@hamburger.edu", "PostMaster@Hamburger.EDU", "postmaster", "Postmaster"}
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO crepes.fr", 250)
			d.expect("MAIL FROM:<reports@crepes.fr>", 250)
			for _, r := range rcpts {
				d.expect("RCPT TO:<"+r+">", 250)
			}
			for _, r := range []string{"postmaster@gmail.com", "abuse@gmail.com", "postmaster@[192.0.2.1]"} {
				d.expect("RCPT TO:<"+r+">", 554) // no relaying through the role addresses
			}
			d.expect("DATA", 354)
			d.tp.PrintfLine("Subject: DMARC report\r\n\r\nx\r\n.")
			if code, msg := d.read(); code != 250 {
				t.Fatalf("DATA: %d %s", code, msg)
			}
			_, msgs := inbox(t, ts.store, tc.want)
			if len(msgs) != 1 {
				t.Fatalf("%s got %d messages, want 1", tc.want, len(msgs))
			}
			if !strings.Contains(string(msgs[0]), "Delivered-To: postmaster@hamburger.edu\r\n") {
				t.Errorf("no Delivered-To: postmaster@hamburger.edu in\n%s", msgs[0])
			}
			if len(ts.queue.all()) != 0 {
				t.Errorf("role mail was queued for another domain: %+v", ts.queue.all())
			}
		})
	}
	t.Run("an alias of that name comes first", func(t *testing.T) {
		ts := newTestServer(t)
		setAlias(t, ts.store, "abuse@hamburger.edu", "alice@hamburger.edu")
		if err := sendPlain(t, ts.smtpAddr, "x@crepes.fr", []string{"abuse@hamburger.edu"}, strings.NewReader("Subject: spam\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, msgs := inbox(t, ts.store, "alice@hamburger.edu"); len(msgs) != 1 {
			t.Errorf("alice got %d messages, want the one to her alias", len(msgs))
		}
		if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 0 {
			t.Errorf("the postmaster got %d messages, want none", len(msgs))
		}
	})
}

// An SRS address of ours may have a local part over 64 octets (it carries
// the whole original address): its bounce is still taken (issue 18.8).
func TestLongSRSAddressAccepted(t *testing.T) {
	r := newSRS(t, time.Now())
	ts := newTestServer(t, func(o *Options) { o.SRS = r })
	addr, err := r.Forward("someone.with.a.long.name@mail.a-rather-long-domain-name.example", "hamburger.edu")
	if err != nil {
		t.Fatal(err)
	}
	if local, _, _ := strings.Cut(addr, "@"); len(local) <= maxLocalPart {
		t.Fatalf("SRS local part %q is not over %d octets", local, maxLocalPart)
	}
	if err := sendPlain(t, ts.smtpAddr, "", []string{addr}, strings.NewReader("Subject: bounce\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if q := ts.queue.all(); len(q) != 1 {
		t.Errorf("queued %d, want the bounce passed on", len(q))
	}
}
