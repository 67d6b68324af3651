package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"petrel/dnsmx/dnsmxtest"
	"petrel/store"
)

// ok runs a CLI command that must succeed and returns its output.
func (in *instance) ok(stdin string, args ...string) string {
	in.t.Helper()
	out, errOut, code := in.petrel(stdin, args...)
	if code != 0 {
		in.t.Fatalf("petrel %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// appendConfig adds TOML at the end of the instance's file.
func (in *instance) appendConfig(s string) {
	in.t.Helper()
	f, err := os.OpenFile(in.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		in.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + s + "\n"); err != nil {
		in.t.Fatal(err)
	}
}

// addAccounts makes accounts (password "pw") in the stopped instance's
// store directly, a few at a time: the CLI would hash one per process.
func (in *instance) addAccounts(addrs ...string) {
	in.t.Helper()
	st, err := store.Open(filepath.Join(in.dir, "data", "mail.db"), store.Options{})
	if err != nil {
		in.t.Fatal(err)
	}
	defer st.Close()
	var wg sync.WaitGroup
	errs := make(chan error, len(addrs))
	work := make(chan string)
	for range 4 {
		wg.Go(func() {
			for a := range work {
				if _, err := st.CreateAccount(bg, a, "pw"); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, a := range addrs {
		work <- a
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		in.t.Fatal(err)
	}
}

// imapMessages returns every message of user's INBOX, over IMAP.
func imapMessages(t *testing.T, in *instance, user string) []string {
	t.Helper()
	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, "pw").Wait(); err != nil {
		t.Fatalf("imap login %s: %v", user, err)
	}
	mb, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if mb.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(seqAll(mb.NumMessages), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		for _, b := range m.BodySection {
			out = append(out, string(b.Bytes))
		}
	}
	return out
}

// waitMessages polls user's INBOX until it holds n messages, and returns
// them; more than n fails at once.
func waitMessages(t *testing.T, in *instance, user string, n int, d time.Duration) []string {
	t.Helper()
	var msgs []string
	waitFor(t, d, fmt.Sprintf("%d messages in %s's INBOX", n, user), func() bool {
		msgs = imapMessages(t, in, user)
		if len(msgs) > n {
			t.Fatalf("%s has %d messages, want %d", user, len(msgs), n)
		}
		return len(msgs) == n
	})
	return msgs
}

// field returns the unfolded value of the first header field name of msg.
func field(msg, name string) string {
	h, _, _ := strings.Cut(msg, "\r\n\r\n")
	lines := strings.Split(h, "\r\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(k, name) {
			continue
		}
		for _, c := range lines[i+1:] {
			if c == "" || (c[0] != ' ' && c[0] != '\t') {
				break
			}
			v += " " + strings.TrimSpace(c)
		}
		return strings.TrimSpace(v)
	}
	return ""
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// queueEmpty waits until the instance's queue is empty.
func queueEmpty(t *testing.T, in *instance, d time.Duration) {
	t.Helper()
	waitFor(t, d, "an empty queue at "+in.smtpAddr, func() bool {
		out, _, _ := in.petrel("", "queue", "list")
		return strings.Contains(out, "the queue is empty")
	})
}

// Aliases through the CLI, offline and through the control socket: a
// chain reaches each account once, a +tag reaches its account and stays
// searchable over IMAP in Delivered-To, the catch-all takes the rest, and
// an alias that would make a loop is refused at `alias add`.
func TestAliasesEndToEnd(t *testing.T) {
	dns := dnsmxtest.Start(t)
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t), extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	in.ok("pw\n", "user", "add", "--force", "bob@hamburger.edu")
	in.ok("pw\n", "user", "add", "--force", "alice@hamburger.edu")
	in.ok("", "alias", "add", "devs@hamburger.edu", "alice@hamburger.edu", "bob+devs@hamburger.edu") // offline
	in.start()
	out := in.ok("", "alias", "add", "team@hamburger.edu", "devs@hamburger.edu", "bob@hamburger.edu") // control socket
	mustContain(t, "alias add output", out, "delivers to: alice@hamburger.edu, bob@hamburger.edu")
	_, errOut, code := in.petrel("", "alias", "add", "x@hamburger.edu", "nobdy@hamburger.edu")
	if code != 1 || !strings.Contains(errOut, "nobdy@hamburger.edu is no account, alias or list") {
		t.Errorf("alias to a typo: exit %d, %s", code, errOut)
	}
	in.ok("", "alias", "add", "@hamburger.edu", "alice@hamburger.edu")
	_, errOut, code = in.petrel("", "alias", "add", "devs@hamburger.edu", "team@hamburger.edu")
	if code != 1 || !strings.Contains(errOut, "alias loop: devs@hamburger.edu → team@hamburger.edu → devs@hamburger.edu") {
		t.Errorf("alias loop: exit %d, %s", code, errOut)
	}
	out = in.ok("", "alias", "list")
	mustContain(t, "alias list", out, "@hamburger.edu", "devs@hamburger.edu  alice@hamburger.edu, bob+devs@hamburger.edu", "team@hamburger.edu")

	for rcpt, subject := range map[string]string{"Team+Q4@hamburger.edu": "team", "bob+news@hamburger.edu": "tagged", "whoever@hamburger.edu": "caught"} {
		if err := sendMail(in.smtpAddr, "eve@crepes.fr", rcpt, "From: eve@crepes.fr\r\nSubject: "+subject+"\r\n\r\nhi\r\n"); err != nil {
			t.Fatalf("to %s: %v", rcpt, err)
		}
	}
	bob := waitMessages(t, in, "bob@hamburger.edu", 2, 10*time.Second)
	alice := waitMessages(t, in, "alice@hamburger.edu", 2, 10*time.Second)
	subjects := func(msgs []string) []string {
		var s []string
		for _, m := range msgs {
			s = append(s, field(m, "Subject"))
		}
		slices.Sort(s)
		return s
	}
	if got := subjects(bob); !slices.Equal(got, []string{"tagged", "team"}) {
		t.Errorf("bob got %v, want team once and tagged", got)
	}
	if got := subjects(alice); !slices.Equal(got, []string{"caught", "team"}) {
		t.Errorf("alice got %v, want team and caught", got)
	}
	for _, m := range append(bob, alice...) {
		if field(m, "Subject") == "team" && field(m, "X-Original-To") != "team+q4@hamburger.edu" {
			t.Errorf("team copy without X-Original-To:\n%s", m)
		}
	}

	// An IMAP user filters on the tag.
	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@hamburger.edu", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Delivered-To", Value: "bob+news@"}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.AllSeqNums(); len(got) != 1 || field(bob[got[0]-1], "Subject") != "tagged" {
		t.Errorf("SEARCH HEADER Delivered-To bob+news@: %v", got)
	}

	in.ok("", "alias", "del", "@hamburger.edu")
	if err := sendMail(in.smtpAddr, "eve@crepes.fr", "whoever@hamburger.edu", "Subject: x\r\n\r\nx\r\n"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("after the catch-all's removal: %v, want 550", err)
	}
}

// twoDomains starts a DNS server for example.com (127.0.0.2), example.net
// (127.0.0.3) and example.org (127.0.0.4), each with SPF for loopback and
// no DMARC record, and returns it with the port the hosts share.
func twoDomains(t *testing.T) (*dnsmxtest.Server, string) {
	port := commonFreePort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	var rrs []string
	for i, d := range []string{"example.com", "example.net", "example.org"} {
		rrs = append(rrs, fmt.Sprintf("%s. 300 IN MX 10 mx.%s.", d, d), fmt.Sprintf("mx.%s. 300 IN A 127.0.0.%d", d, i+2),
			fmt.Sprintf(`%s. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`, d))
	}
	return dnsmxtest.Start(t, rrs...), port
}

func host(t *testing.T, dns *dnsmxtest.Server, port, domain, ip string) *instance {
	extra := fmt.Sprintf("[dns]\nresolver = %q\n[queue]\nport = %s\nretry = [\"1s\"]\n", dns.Addr, port)
	return newInstanceWith(t, instanceOpts{hostname: "mx." + domain, domain: domain, smtpAddr: ip + ":" + port, imapAddr: freePort(t), extra: extra})
}

// An alias on example.com forwards carol@example.net's message back to
// example.net through the queue, under an SRS sender that passes SPF there;
// the recipient example.net refuses comes back to carol as a bounce,
// through the SRS address. A bounce sent later to that address on port 25
// reaches her too; a forged one is refused. And a forwarding loop between
// the two hosts (through SRS0 and SRS1) ends with a bounce to carol that
// says why.
func TestForwardWithSRSAndBounce(t *testing.T) {
	dns, port := twoDomains(t)
	a := host(t, dns, port, "example.com", "127.0.0.2")
	b := host(t, dns, port, "example.net", "127.0.0.3")
	b.ok("pw\n", "user", "add", "--force", "bob@example.net")
	b.ok("pw\n", "user", "add", "--force", "carol@example.net")
	a.ok("pw\n", "user", "add", "--force", "alice@example.com")
	a.ok("", "alias", "add", "fwd@example.com", "bob@example.net", "ghost@example.net")
	a.start()
	b.start()

	submit(t, b.subAddr, "carol@example.net", "pw", "fwd@example.com", "From: carol@example.net\r\nTo: fwd@example.com\r\nSubject: forwarded\r\n\r\nPass it on.\r\n")
	msg := waitMessages(t, b, "bob@example.net", 1, 20*time.Second)[0]
	rp := field(msg, "Return-Path")
	if !regexp.MustCompile(`^<SRS0=[a-z2-7]{6}=[A-Z2-7]{2}=example\.net=carol@example\.com>$`).MatchString(rp) {
		t.Fatalf("forwarded with Return-Path %q:\n%s", rp, msg)
	}
	ar := field(msg, "Authentication-Results")
	if !strings.HasPrefix(ar, "mx.example.net") || !strings.Contains(ar, "spf=pass") {
		t.Errorf("example.net's verdict on the forward: %q", ar)
	}
	mustContain(t, "bob's copy", msg, "Delivered-To: fwd@example.com\r\n", "by mx.example.com with ESMTP", "by mx.example.net with ESMTPS", "Pass it on.")

	// ghost@example.net was refused: the bounce went to the SRS address at
	// example.com, which sent it on to carol.
	dsn := waitMessages(t, b, "carol@example.net", 1, 30*time.Second)[0]
	mustContain(t, "carol's bounce", dsn, "Return-Path: <>", "Final-Recipient: rfc822; ghost@example.net", "Action: failed", "Subject: forwarded")

	// A bounce that comes later, on port 25, to the same address.
	srsAddr := strings.Trim(rp, "<>")
	late := "From: MAILER-DAEMON@mx.example.net\r\nSubject: late bounce\r\n\r\nThe mailbox filled up.\r\n"
	if err := sendMail(a.smtpAddr, "", srsAddr, late); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, b, "carol@example.net", 2, 30*time.Second)
	forged := strings.Replace(srsAddr, "=carol@", "=dave@", 1)
	if err := sendMail(a.smtpAddr, "", forged, late); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("bounce to a forged SRS address: %v, want 550", err)
	}

	// A loop: loop@example.com → back@example.net → loop@example.com.
	b.ok("", "alias", "add", "back@example.net", "loop@example.com")
	a.ok("", "alias", "add", "loop@example.com", "back@example.net")
	submit(t, b.subAddr, "carol@example.net", "pw", "loop@example.com", "From: carol@example.net\r\nSubject: round and round\r\n\r\nx\r\n")
	var loopDSN string
	for _, m := range waitMessages(t, b, "carol@example.net", 3, 40*time.Second) {
		if strings.Contains(m, "mail forwarding loop") {
			loopDSN = m
		}
	}
	if loopDSN == "" {
		t.Fatal("carol's third message is not the loop's bounce")
	}
	mustContain(t, "loop bounce", loopDSN, "Final-Recipient: rfc822; loop@example.com", "Status: 5.4.6", "Subject: round and round")
	queueEmpty(t, a, 20*time.Second)
	queueEmpty(t, b, 20*time.Second)
	if n := countLines(a.stderr.String(), `msg="smtp transaction"`, "code=554", "mail forwarding loop"); n != 1 {
		t.Errorf("example.com refused the loop %d times, want once", n)
	}
}

// A list of 500 members, 250 of them local and 250 on two other hosts,
// expands a post once to each; a non-member's post is refused; the copies
// carry List-Id, List-Post, List-Archive and a one-click List-Unsubscribe
// that, POSTed over HTTP, removes the member.
func TestListOf500(t *testing.T) {
	dns, port := twoDomains(t)
	a := host(t, dns, port, "example.com", "127.0.0.2")
	b := host(t, dns, port, "example.net", "127.0.0.3")
	c := host(t, dns, port, "example.org", "127.0.0.4")
	a.appendConfig(fmt.Sprintf("[lists]\nunsubscribe_url = %q\n", "http://"+a.httpAddr+"/unsubscribe"))
	local := []string{"alice@example.com"}
	for i := 1; i < 250; i++ {
		local = append(local, fmt.Sprintf("m%03d@example.com", i))
	}
	a.addAccounts(local...)
	var remote []string
	for i := range 125 {
		remote = append(remote, fmt.Sprintf("r%03d@example.net", i), fmt.Sprintf("r%03d@example.org", i))
	}
	b.addAccounts("sink@example.net")
	c.addAccounts("sink@example.org")
	b.ok("", "alias", "add", "@example.net", "sink@example.net")
	c.ok("", "alias", "add", "@example.org", "sink@example.org")
	a.ok("", "list", "create", "all@example.com", "archive=https://lists.example.com/all/")
	out := a.ok("", append([]string{"list", "add", "all@example.com"}, append(local, remote...)...)...)
	mustContain(t, "list add", out, "added or enabled 500 of 500")
	a.start()
	b.start()
	c.start()

	err := sendMail(a.smtpAddr, "mallory@evil.example", "all@example.com", "From: mallory@evil.example\r\nSubject: spam\r\n\r\nbuy\r\n")
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "only members may post to this list, and <mallory@evil.example> is not one of them") {
		t.Errorf("non-member post: %v", err)
	}

	body := "From: Alice <alice@example.com>\r\nTo: all@example.com\r\nSubject: hello 500\r\n\r\n" + strings.Repeat("A list post of four kilobytes, more or less.\r\n", 90)
	start := time.Now()
	submit(t, a.subAddr, "alice@example.com", "pw", "all@example.com", body)
	sinks := map[*instance]string{b: "sink@example.net", c: "sink@example.org"}
	remoteGot := map[string]int{}
	for h, sink := range sinks {
		for _, m := range waitMessages(t, h, sink, 125, 60*time.Second) {
			remoteGot[field(m, "X-Original-To")]++
			if field(m, "List-Id") != "<all.example.com>" {
				t.Errorf("remote copy without List-Id:\n%s", m)
			}
		}
	}
	t.Logf("250 remote copies delivered in %v", time.Since(start).Round(time.Millisecond))
	for _, r := range remote {
		if remoteGot[r] != 1 {
			t.Errorf("%s got %d copies, want 1", r, remoteGot[r])
		}
	}
	queueEmpty(t, a, 20*time.Second)
	// Every local member has exactly one message.
	users := a.ok("", "user", "list")
	for _, l := range local {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l) + `\s+1\s`).MatchString(users) {
			t.Errorf("%s does not have exactly one message:\n%s", l, users)
			break
		}
	}
	copy := imapMessages(t, a, "m001@example.com")[0]
	mustContain(t, "m001's copy", copy, "Return-Path: <all-bounces@example.com>", "Delivered-To: m001@example.com",
		"List-Id: <all.example.com>", "List-Post: <mailto:all@example.com>", "List-Archive: <https://lists.example.com/all/>",
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Subject: hello 500")
	unsub := strings.Trim(field(copy, "List-Unsubscribe"), "<>")
	if !strings.HasPrefix(unsub, "http://"+a.httpAddr+"/unsubscribe?") {
		t.Fatalf("List-Unsubscribe %q", unsub)
	}
	resp, err := http.PostForm(unsub, url.Values{"List-Unsubscribe": {"One-Click"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click POST: %s", resp.Status)
	}
	members := a.ok("", "list", "members", "all@example.com")
	if strings.Contains(members, "m001@example.com") || !strings.Contains(members, "m002@example.com") {
		t.Errorf("after m001's one-click unsubscribe:\n%s", members)
	}
}

// Two lists that are members of each other, on two hosts: a post goes
// through each once, and at its second arrival at the first list it is
// refused as a loop; the bounce goes to the second list's bounce address,
// which counts it against its member.
func TestListLoopBetweenHosts(t *testing.T) {
	dns, port := twoDomains(t)
	a := host(t, dns, port, "example.com", "127.0.0.2")
	b := host(t, dns, port, "example.net", "127.0.0.3")
	a.ok("pw\n", "user", "add", "--force", "alice@example.com")
	b.ok("pw\n", "user", "add", "--force", "bob@example.net")
	a.ok("", "list", "create", "loopa@example.com")
	a.ok("", "list", "add", "loopa@example.com", "alice@example.com", "loopb@example.net")
	b.ok("", "list", "create", "loopb@example.net")
	b.ok("", "list", "add", "loopb@example.net", "bob@example.net", "loopa@example.com")
	a.start()
	b.start()

	submit(t, a.subAddr, "alice@example.com", "pw", "loopa@example.com", "From: alice@example.com\r\nSubject: echo\r\n\r\nhello?\r\n")
	bob := waitMessages(t, b, "bob@example.net", 1, 20*time.Second)[0]
	mustContain(t, "bob's copy", bob, "List-Id: <loopb.example.net>", "List-Id: <loopa.example.com>")
	waitFor(t, 30*time.Second, "loopb to count the bounce of loopa@example.com", func() bool {
		out, _, _ := b.petrel("", "list", "members", "loopb@example.net")
		return regexp.MustCompile(`loopa@example\.com\s+enabled\s+1 \(last `).MatchString(out)
	})
	queueEmpty(t, a, 20*time.Second)
	queueEmpty(t, b, 20*time.Second)
	if got := imapMessages(t, a, "alice@example.com"); len(got) != 1 {
		t.Errorf("alice has %d messages, want her list's one copy", len(got))
	}
	if got := imapMessages(t, b, "bob@example.net"); len(got) != 1 {
		t.Errorf("bob has %d messages, want one", len(got))
	}
	if n := countLines(a.stderr.String(), `msg="smtp transaction"`, "code=554", "mail loop: this message already went through the list loopa@example.com"); n != 1 {
		t.Errorf("example.com refused the loop %d times, want once:\n%s", n, a.stderr)
	}
}

func seqAll(n uint32) imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(1, n)
	return s
}

// countLines counts the lines of log that have all of subs.
func countLines(log string, subs ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

// A message that fails DMARC for a p=reject domain but is let in (here by
// the domain's own pct=0, which applies quarantine) reaches the alias's
// local target, in Junk, and is not forwarded; the same from a domain
// without DMARC is.
func TestDMARCRejectNotForwarded(t *testing.T) {
	dns := dnsmxtest.Start(t, `_dmarc.crepes.fr. 300 IN TXT "v=DMARC1; p=reject; pct=0"`)
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t), extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	in.ok("pw\n", "user", "add", "--force", "bob@hamburger.edu")
	in.ok("", "alias", "add", "fwd@hamburger.edu", "bob@hamburger.edu", "carol@remote.example")
	in.start()
	if err := sendMail(in.smtpAddr, "eve@crepes.fr", "fwd@hamburger.edu", "From: eve@crepes.fr\r\nSubject: forged\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the not-forwarded log line", func() bool {
		return countLines(in.stderr.String(), "not forwarded: the message fails DMARC", "carol@remote.example") == 1
	})
	if n := countLines(in.stderr.String(), "msg=forwarded"); n != 0 {
		t.Errorf("forwarded %d times", n)
	}
	if got := imapMessages(t, in, "bob@hamburger.edu"); len(got) != 0 {
		t.Errorf("the forgery is in bob's INBOX")
	}
	if out := in.ok("", "user", "list"); !regexp.MustCompile(`bob@hamburger\.edu\s+1\s`).MatchString(out) {
		t.Errorf("bob has not the one message (in Junk):\n%s", out)
	}
	if err := sendMail(in.smtpAddr, "eve@no-dmarc.example", "fwd@hamburger.edu", "From: eve@no-dmarc.example\r\nSubject: plain\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the forward", func() bool {
		return countLines(in.stderr.String(), "msg=forwarded", "carol@remote.example") == 1
	})
}
