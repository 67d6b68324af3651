package mta

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"petrel/store"
)

type fakeSigner struct{}

func (fakeSigner) Sign(domain string, msg []byte) ([]byte, error) {
	return append([]byte("DKIM-Signature: v=1; d="+domain+"; b=x\r\n"), msg...), nil
}

func TestSubmit(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Signer = fakeSigner{} })
	ctx := context.Background()
	bob, err := ts.store.AccountByAddress("bob@hamburger.edu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.SetAlias(ctx, "sales@hamburger.edu", []string{"bob@hamburger.edu"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.SetAlias(ctx, "@hamburger.edu", []string{"bob@hamburger.edu"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	msg := "From: bob@hamburger.edu\nTo: alice@hamburger.edu\nSubject: hi\n\nhello\n"
	for _, tc := range []struct {
		name   string
		from   string
		rcpts  []string
		code   int
		status string
	}{
		{"own address, local and remote", "bob@hamburger.edu", []string{"alice@hamburger.edu", "carol@example.org"}, 0, ""},
		{"+tag", "bob+web@hamburger.edu", []string{"alice@hamburger.edu"}, 0, ""},
		{"alias", "sales@hamburger.edu", []string{"alice@hamburger.edu"}, 0, ""},
		{"catch-all is not an alias to send as", "anything@hamburger.edu", []string{"alice@hamburger.edu"}, 550, "5.7.1"},
		{"another user's address", "alice@hamburger.edu", []string{"carol@example.org"}, 550, "5.7.1"},
		{"bad recipient", "bob@hamburger.edu", []string{"carol@@example.org"}, 501, "5.1.3"},
		{"header injection in recipient", "bob@hamburger.edu", []string{"carol@example.org\r\nBcc: x@y"}, 501, "5.1.3"},
		{"no recipients", "bob@hamburger.edu", nil, 554, "5.5.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.queue.all())
			_, err := ts.mta.Submit(ctx, Submission{Account: bob, From: tc.from, Rcpts: tc.rcpts, Message: []byte(msg),
				RemoteIP: net.ParseIP("192.0.2.7"), Protocol: "HTTPS", SaveSent: true})
			var se *SubmitError
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("Submit: %v", err)
				}
				return
			}
			if !errors.As(err, &se) || se.Code != tc.code || se.Status != tc.status {
				t.Fatalf("Submit = %v, want %d %s", err, tc.code, tc.status)
			}
			if n := len(ts.queue.all()); n != before {
				t.Errorf("refused message queued anyway")
			}
		})
	}
	// The first case: queued with our Received (HTTPS hop) and DKIM, stored
	// for alice, filed in bob's Sent.
	q := ts.queue.all()[0]
	if q.from != "bob@hamburger.edu" || len(q.rcpts) != 1 || q.rcpts[0] != "carol@example.org" {
		t.Errorf("queued %s %v", q.from, q.rcpts)
	}
	s := string(q.msg)
	for _, want := range []string{"Received: from unknown (unknown [192.0.2.7])", "with HTTPS id", "DKIM-Signature: v=1; d=hamburger.edu", "Message-ID: <", "\r\nhello\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("queued message lacks %q:\n%s", want, s)
		}
	}
	alice, _ := ts.store.AccountByAddress("alice@hamburger.edu")
	inbox, _ := ts.store.MailboxByName(alice.ID, "INBOX")
	if inbox.Messages != 3 {
		t.Errorf("alice's INBOX has %d messages, want 3", inbox.Messages)
	}
	sent, _ := ts.store.MailboxByName(bob.ID, "Sent")
	if sent.Messages != 3 || sent.Unseen != 0 {
		t.Errorf("bob's Sent has %d messages (%d unseen), want 3 seen", sent.Messages, sent.Unseen)
	}
	// Over SMTP submission, the alias is allowed too, the catch-all not.
	d := dial(t, ts.subAddr)
	d.read()
	d.send("EHLO client")
	if c, m := d.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@hamburger.edu\x00secret"))); c != 235 {
		t.Fatalf("auth: %d %s", c, m)
	}
	if c, m := d.send("MAIL FROM:<sales@hamburger.edu>"); c != 250 {
		t.Errorf("MAIL FROM alias: %d %s", c, m)
	}
	d.send("RSET")
	if c, _ := d.send("MAIL FROM:<nobody@hamburger.edu>"); c != 550 {
		t.Errorf("MAIL FROM catch-all address: %d, want 550", c)
	}
}

// FuzzSubmit: whatever the sender, recipients and message, Submit either
// refuses with an SMTP code of 4xx or 5xx, or sends as the account itself
// (or an alias of it), with the message's header completed.
func FuzzSubmit(f *testing.F) {
	f.Add("bob@hamburger.edu", "alice@hamburger.edu", "Subject: x\r\n\r\nbody\r\n")
	f.Add("alice@hamburger.edu", "carol@example.org", "no header")
	f.Add("bob+x@hamburger.edu", "carol@example.org\r\nBcc: x@y", "Received: x\r\n\r\n")
	f.Add("", "postmaster", "")
	ts := newTestServer(f, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	bob, err := ts.store.AccountByAddress("bob@hamburger.edu")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, from, rcpts, msg string) {
		_, err := ts.mta.Submit(context.Background(), Submission{Account: bob, From: from, Rcpts: strings.Split(rcpts, ","), Message: []byte(msg), Protocol: "HTTPS"})
		var se *SubmitError
		if err != nil {
			if !errors.As(err, &se) || se.Code < 400 || se.Code > 599 || se.Text == "" {
				t.Fatalf("Submit(%q, %q): %v", from, rcpts, err)
			}
			return
		}
		if s, _ := store.NormalizeAddress(from); s != "bob@hamburger.edu" && !strings.HasPrefix(s, "bob+") {
			t.Fatalf("sent as %q", from)
		}
	})
}
