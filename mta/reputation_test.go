package mta

import (
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/dnsbl"
	"petrel/dnsmx"
	"petrel/dnsmx/dnsmxtest"
)

// listedServer runs the MTA with 127.0.0.1 (the tests' client) in the
// block list bl.test, acting as action says.
func listedServer(t *testing.T, action dnsbl.Action, records ...string) (*testServer, *[]string) {
	t.Helper()
	dns := dnsmxtest.Start(t, append([]string{"1.0.0.127.bl.test. 300 IN A 127.0.0.2"}, records...)...)
	r, err := dnsmx.New(dns.Addr, dnsmx.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dnsbl.New(dnsbl.Options{Block: []dnsbl.Zone{{Name: "bl.test"}}, Allow: []dnsbl.Zone{{Name: "wl.test"}}, Action: action, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	verdicts := &[]string{}
	ts := newTestServer(t, func(o *Options) {
		o.Reputation = c
		o.OnReputation = func(v string) { mu.Lock(); *verdicts = append(*verdicts, v); mu.Unlock() }
	})
	return ts, verdicts
}

func TestDNSBLRefuseConnect(t *testing.T) {
	ts, verdicts := listedServer(t, dnsbl.RefuseConnect)
	d := dial(t, ts.smtpAddr)
	code, text := d.read()
	if code != 554 || text != "5.7.1 Client host [127.0.0.1] blocked using bl.test" {
		t.Errorf("greeting %d %q", code, text)
	}
	if _, err := d.tp.ReadLine(); err == nil {
		t.Error("connection still open")
	}
	// Submission is for users who log in: not checked.
	s := dial(t, ts.subAddr)
	if code, _ := s.read(); code != 220 {
		t.Errorf("submission greeting %d", code)
	}
	if strings.Join(*verdicts, ",") != "refused-connect" {
		t.Errorf("verdicts %q", *verdicts)
	}
}

func TestDNSBLRefuseRcpt(t *testing.T) {
	ts, verdicts := listedServer(t, dnsbl.RefuseRcpt)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO client.example.org", 250)
	d.expect("MAIL FROM:<someone@example.org>", 250)
	if code, text := d.send("RCPT TO:<bob@hamburger.edu>"); code != 554 || text != "5.7.1 Client host [127.0.0.1] blocked using bl.test" {
		t.Errorf("RCPT: %d %q", code, text)
	}
	if code, _ := d.send("RCPT TO:<postmaster@hamburger.edu>"); code == 554 {
		t.Error("postmaster refused by the block list")
	}
	if _, in := inbox(t, ts.store, "bob@hamburger.edu"); len(in) != 0 {
		t.Errorf("stored %d", len(in))
	}
	if strings.Join(*verdicts, ",") != "refused-rcpt" {
		t.Errorf("verdicts %q", *verdicts)
	}
}

func TestDNSBLScore(t *testing.T) {
	ts, verdicts := listedServer(t, dnsbl.Score)
	if err := sendPlain(t, ts.smtpAddr, "someone@example.org", []string{"bob@hamburger.edu"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	_, _, junk := mailbox(t, ts.store, "bob@hamburger.edu", "Junk")
	if len(junk) != 1 || !strings.Contains(string(junk[0]), "\r\nX-Petrel-DNSBL: bl.test=127.0.0.2; score=1\r\n") {
		t.Errorf("Junk: %q", junk)
	}
	if strings.Join(*verdicts, ",") != "junk" {
		t.Errorf("verdicts %q", *verdicts)
	}
}

// TestDNSWL: an allow list cancels a block listing.
func TestDNSWL(t *testing.T) {
	ts, verdicts := listedServer(t, dnsbl.RefuseRcpt, "1.0.0.127.wl.test. 300 IN A 127.0.10.1")
	if err := sendPlain(t, ts.smtpAddr, "someone@example.org", []string{"bob@hamburger.edu"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, in := inbox(t, ts.store, "bob@hamburger.edu"); len(in) != 1 || !strings.Contains(string(in[0]), "X-Petrel-DNSBL: bl.test=127.0.0.2, wl.test=127.0.10.1 (allow); score=0\r\n") {
		t.Errorf("INBOX: %q", in)
	}
	if len(*verdicts) != 0 {
		t.Errorf("verdicts %q", *verdicts)
	}
}
