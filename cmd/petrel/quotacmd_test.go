package main

import (
	"strings"
	"testing"
)

// `petrel user quota` shows usage and sets or removes the limits, with
// the server stopped or through the running one, whose SMTP then refuses
// the full account at RCPT; bad sizes and a misplaced --messages get a
// usage error.
func TestUserQuota(t *testing.T) {
	in := newInstance(t)
	in.addAccounts("bob@hamburger.edu", "alice@hamburger.edu")
	if out := in.ok("", "user", "quota", "bob@hamburger.edu"); out != "bob@hamburger.edu: storage 0 B of no limit, messages 0 of no limit\n" {
		t.Errorf("quota without limits: %q", out)
	}
	if out := in.ok("", "user", "quota", "bob@hamburger.edu", "2M", "--messages", "1"); out != "bob@hamburger.edu: storage 0 B of 2.0 MiB, messages 0 of 1\n" {
		t.Errorf("quota set offline: %q", out)
	}
	for _, args := range [][]string{
		{"user", "quota", "bob@hamburger.edu", "12X"},
		{"user", "quota", "bob@hamburger.edu", "-5"},
		{"user", "quota", "bob@hamburger.edu", "--messages", "many"},
		{"user", "list", "--messages", "3"},
		{"user", "quota", "bob@hamburger.edu", "1G", "extra"},
	} {
		if _, errOut, code := in.petrel("", args...); code != 2 || !strings.Contains(errOut, "usage") && !strings.Contains(errOut, "want") && !strings.Contains(errOut, "--messages") {
			t.Errorf("petrel %s: exit %d, %q; want a usage error", strings.Join(args, " "), code, errOut)
		}
	}
	if _, errOut, code := in.petrel("", "user", "quota", "nobody@hamburger.edu", "1G"); code != 1 || !strings.Contains(errOut, "no such account") {
		t.Errorf("quota of nobody: exit %d, %q", code, errOut)
	}

	in.start()
	if err := sendMail(in.smtpAddr, "x@crepes.fr", "bob@hamburger.edu", "Subject: one\r\n\r\nhello\r\n"); err != nil {
		t.Fatalf("first message: %v", err)
	}
	err := sendMail(in.smtpAddr, "x@crepes.fr", "bob@hamburger.edu", "Subject: two\r\n\r\nhello\r\n")
	if err == nil || !strings.Contains(err.Error(), "452") || !strings.Contains(err.Error(), "mailbox full") {
		t.Fatalf("a message to a full account: %v, want 452 mailbox full", err)
	}
	out := in.ok("", "user", "quota", "bob@hamburger.edu")
	if !strings.HasPrefix(out, "bob@hamburger.edu: storage ") || !strings.HasSuffix(out, " of 2.0 MiB, messages 1 of 1\n") {
		t.Errorf("usage through the server: %q", out)
	}
	if out := in.ok("", "user", "quota", "bob@hamburger.edu", "none", "--messages", "0"); !strings.HasSuffix(out, " of no limit, messages 1 of no limit\n") {
		t.Errorf("limits removed: %q", out)
	}
	if err := sendMail(in.smtpAddr, "x@crepes.fr", "bob@hamburger.edu", "Subject: two\r\n\r\nhello\r\n"); err != nil {
		t.Fatalf("after the limits went: %v", err)
	}
}
