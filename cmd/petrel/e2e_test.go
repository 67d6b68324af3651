package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/dnsmx/dnsmxtest"
)

// Two Petrel hosts, example.com on 127.0.0.2 and example.net on 127.0.0.3,
// found through a DNS server of the test's: alice@example.com submits on
// 587; bob@example.net reads the message over IMAP, with a Received header
// from each hop and a DKIM signature his server verified. Then example.net
// goes down, alice submits again, example.net comes back, and the queue's
// retry delivers.
func TestTwoHostsEndToEnd(t *testing.T) {
	port := commonFreePort(t, "127.0.0.2", "127.0.0.3")
	dns := dnsmxtest.Start(t,
		"example.com. 300 IN MX 10 mx.example.com.",
		"mx.example.com. 300 IN A 127.0.0.2",
		"example.net. 300 IN MX 10 mx.example.net.",
		"mx.example.net. 300 IN A 127.0.0.3",
		`example.com. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	extra := fmt.Sprintf("[dns]\nresolver = %q\n[queue]\nport = %s\nretry = [\"1s\"]\n", dns.Addr, port)
	a := newInstanceWith(t, instanceOpts{hostname: "mx.example.com", domain: "example.com", smtpAddr: "127.0.0.2:" + port, extra: extra})
	b := newInstanceWith(t, instanceOpts{hostname: "mx.example.net", domain: "example.net", smtpAddr: "127.0.0.3:" + port, imapAddr: freePort(t), extra: extra})
	a.petrel("alice-pw\n", "user", "add", "--force", "alice@example.com")
	b.petrel("bob-pw\n", "user", "add", "--force", "bob@example.net")
	out, errOut, code := a.petrel("", "dkim", "keygen", "example.com", "--selector", "s1")
	if code != 0 {
		t.Fatalf("dkim keygen: %s", errOut)
	}
	rec := regexp.MustCompile(`"(v=DKIM1;[^"]*)"`).FindStringSubmatch(out)
	if rec == nil {
		t.Fatalf("no TXT record in keygen output:\n%s", out)
	}
	dns.Add(t, fmt.Sprintf("s1._domainkey.example.com. 300 IN TXT %q", rec[1]))
	a.start()
	b.start()
	// The first start made the RSA key beside s1 (issue 13, point 6):
	// publish it too, so that both signatures can be checked.
	zone, _, _ := a.petrel("", "dns", "example.com")
	for _, l := range strings.Split(zone, "\n") {
		if strings.Contains(l, "-rsa._domainkey.example.com.") && !strings.HasPrefix(l, ";") {
			dns.Add(t, l)
		}
	}

	submit(t, a.subAddr, "alice@example.com", "alice-pw", "bob@example.net", "Subject: first\r\nFrom: alice@example.com\r\nTo: bob@example.net\r\n\r\nHello Bob!\r\n")
	msg := waitForMessage(t, b, "bob@example.net", "bob-pw", "Subject: first", 20*time.Second)
	if n := strings.Count(msg, "Received: from"); n < 2 {
		t.Errorf("want a Received header per hop, found %d:\n%s", n, msg)
	}
	for _, want := range []string{"by mx.example.com with ESMTPSA", "by mx.example.net with ESMTPS", "DKIM-Signature:", "dkim=pass", "spf=pass", "dmarc=pass", "Hello Bob!",
		"a=rsa-sha256", "a=ed25519-sha256"} {
		if !strings.Contains(msg, want) {
			t.Errorf("bob's copy lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "dkim=pass"); n != 2 {
		t.Errorf("want both signatures (RSA and Ed25519) verified, found %d dkim=pass:\n%s", n, msg)
	}

	// example.net goes down; the queue keeps the message and retries.
	b.signal(syscall.SIGTERM)
	submit(t, a.subAddr, "alice@example.com", "alice-pw", "bob@example.net", "Subject: second\r\nFrom: alice@example.com\r\n\r\nAre you there?\r\n")
	waitFor(t, 20*time.Second, "a failed attempt in the queue", func() bool {
		out, _, _ := a.petrel("", "queue", "list")
		return strings.Contains(out, "bob@example.net") && !strings.Contains(out, "ATTEMPTS\n") && regexp.MustCompile(`\s[1-9]\d*\s+(in |now)`).MatchString(out)
	})
	b.start()
	waitForMessage(t, b, "bob@example.net", "bob-pw", "Subject: second", 30*time.Second)
	waitFor(t, 10*time.Second, "an empty queue", func() bool {
		out, _, _ := a.petrel("", "queue", "list")
		return strings.Contains(out, "the queue is empty")
	})
}

// commonFreePort finds a TCP port free on every one of ips.
func commonFreePort(t *testing.T, ips ...string) string {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ips[0], err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ok := true
		var others []net.Listener
		for _, ip := range ips[1:] {
			o, err := net.Listen("tcp", ip+":"+port)
			if err != nil {
				ok = false
				break
			}
			others = append(others, o)
		}
		l.Close()
		for _, o := range others {
			o.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no port free on all of", ips)
	return ""
}

func submit(t *testing.T, addr, user, pass, to, body string) {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(user, []string{to}, strings.NewReader(body)); err != nil {
		t.Fatalf("submit: %v", err)
	}
	c.Quit()
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitForMessage polls the INBOX over IMAP until a message containing
// marker arrives, and returns it.
func waitForMessage(t *testing.T, in *instance, user, pass, marker string, d time.Duration) string {
	t.Helper()
	var found string
	waitFor(t, d, "a message with "+marker+" in "+user+"'s INBOX", func() bool {
		c, err := imapclient.DialInsecure(in.imapAddr, nil)
		if err != nil {
			return false
		}
		defer c.Close()
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Fatalf("imap login: %v", err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			return false
		}
		for _, m := range msgs {
			for _, b := range m.BodySection {
				if strings.Contains(string(b.Bytes), marker) {
					found = string(b.Bytes)
					return true
				}
			}
		}
		return false
	})
	return found
}
