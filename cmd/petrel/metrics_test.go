package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/dnsmx/dnsmxtest"
)

// deferringPeer is a remote SMTP server that answers the first DATA with
// 451 and accepts every later one.
type deferringPeer struct {
	mu    sync.Mutex
	datas int
}

type deferringSession struct{ p *deferringPeer }

func (deferringSession) Reset()                               {}
func (deferringSession) Logout() error                        { return nil }
func (deferringSession) Mail(string, *smtp.MailOptions) error { return nil }
func (deferringSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s deferringSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.datas++
	if s.p.datas == 1 {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

// startDeferringPeer serves a deferringPeer on 127.0.0.1 and returns its port.
func startDeferringPeer(t *testing.T) (*deferringPeer, string) {
	p := &deferringPeer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return deferringSession{p}, nil }))
	srv.Domain = "mx.remote.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return p, port
}

// scrapeMetric reads /metrics and returns the value of the sample with
// that name and label (`result="delivered"`), 0 when absent.
func scrapeMetric(t *testing.T, in *instance, name, label string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + in.httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+label+"}") + ` (\S+)$`)
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s{%s}: %v", name, label, err)
	}
	return v
}

// pop3Login tries USER/PASS on a fresh connection and returns the reply
// to PASS.
func pop3Login(t *testing.T, addr, user, pass string) string {
	t.Helper()
	return pop3LoginFrom(t, "", addr, user, pass)
}

// pop3LoginFrom is pop3Login from the loopback address from ("" for any).
func pop3LoginFrom(t *testing.T, from, addr, user, pass string) string {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("pop3: %v", err)
		}
		return strings.TrimSpace(l)
	}
	line() // greeting
	fmt.Fprintf(c, "USER %s\r\n", user)
	line()
	fmt.Fprintf(c, "PASS %s\r\n", pass)
	reply := line()
	// QUIT's reply comes once the session has released the maildrop: a
	// login right after this one must not race the lock.
	fmt.Fprintf(c, "QUIT\r\n")
	if q, err := r.ReadString('\n'); err == nil && !strings.HasPrefix(q, "+OK") {
		t.Errorf("pop3 QUIT: %q", q)
	}
	return reply
}

// metricsInstance is a server with IMAP and POP3 listeners, whose queue
// finds remote.test at the deferring peer.
func metricsInstance(t *testing.T, auth string) (in *instance, pop3Addr string, peer *deferringPeer) {
	peer, port := startDeferringPeer(t)
	dns := dnsmxtest.Start(t, "remote.test. 300 IN MX 10 mx.remote.test.", "mx.remote.test. 300 IN A 127.0.0.1")
	pop3Addr = freePort(t)
	// extra starts inside [listen].
	extra := fmt.Sprintf("pop3 = %q\n[dns]\nresolver = %q\n[queue]\nport = %s\nretry = [\"1s\"]\n[auth]\n%s", pop3Addr, dns.Addr, port, auth)
	in = newInstanceWith(t, instanceOpts{imapAddr: freePort(t), extra: extra})
	in.petrel("alice-pw\n", "user", "add", "--force", "alice@hamburger.edu")
	in.start()
	return in, pop3Addr, peer
}

// A message submitted for a remote domain is deferred once by the peer and
// then delivered: petrel_delivery_attempts_total counts one temporary and
// one delivered attempt. A failed IMAP login and a failed POP3 login each
// move petrel_auth_failures_total for their protocol.
func TestMetricsDeliveryAttemptsAndAuthFailures(t *testing.T) {
	in, pop3Addr, peer := metricsInstance(t, "fail_delay = \"50ms\"\nmax_fail_delay = \"50ms\"\n")
	attempts := func(result string) float64 {
		return scrapeMetric(t, in, "petrel_delivery_attempts_total", `result="`+result+`"`)
	}
	failures := func(proto string) float64 {
		return scrapeMetric(t, in, "petrel_auth_failures_total", `protocol="`+proto+`"`)
	}
	if attempts("delivered") != 0 || failures("imap") != 0 || failures("pop3") != 0 {
		t.Fatal("counters not zero at start")
	}

	submit(t, in.subAddr, "alice@hamburger.edu", "alice-pw", "bob@remote.test", "Subject: out\r\nFrom: alice@hamburger.edu\r\n\r\nHello remote.\r\n")
	waitFor(t, 20*time.Second, "a delivered attempt", func() bool { return attempts("delivered") == 1 })
	if got := attempts("temporary"); got != 1 {
		t.Errorf(`attempts{result="temporary"} = %v, want 1 (the peer's 451)`, got)
	}
	if got := attempts("permanent"); got != 0 {
		t.Errorf(`attempts{result="permanent"} = %v, want 0`, got)
	}
	peer.mu.Lock()
	if peer.datas != 2 {
		t.Errorf("peer saw %d DATA commands, want 2", peer.datas)
	}
	peer.mu.Unlock()

	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice@hamburger.edu", "wrong").Wait(); err == nil {
		t.Error("IMAP login with a wrong password succeeded")
	}
	c.Close()
	if got := failures("imap"); got != 1 {
		t.Errorf(`auth_failures{protocol="imap"} = %v, want 1`, got)
	}
	if r := pop3Login(t, pop3Addr, "alice@hamburger.edu", "wrong"); !strings.HasPrefix(r, "-ERR [AUTH]") {
		t.Errorf("POP3 PASS with a wrong password: %q", r)
	}
	if got := failures("pop3"); got != 1 {
		t.Errorf(`auth_failures{protocol="pop3"} = %v, want 1`, got)
	}
	if got := failures("smtp"); got != 0 {
		t.Errorf(`auth_failures{protocol="smtp"} = %v, want 0`, got)
	}
}

// Repeated failed IMAP logins from one address are answered ever later and
// then locked out, and the lockout holds on POP3 and SMTP AUTH as well:
// the three share one limiter.
func TestAuthLimitSharedAcrossProtocols(t *testing.T) {
	const delay = 300 * time.Millisecond
	in, pop3Addr, _ := metricsInstance(t, fmt.Sprintf("fail_delay = %q\nmax_fail_delay = %q\nlockout_failures = 3\nlockout_time = \"10m\"\n", delay, delay))
	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		start := time.Now()
		err := c.Login("alice@hamburger.edu", "wrong").Wait()
		took := time.Since(start)
		var ierr *imap.Error
		if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("failed login %d: %v, want NO [AUTHENTICATIONFAILED]", i+1, err)
		}
		if i > 0 && took < delay {
			t.Errorf("failed login %d answered after %v, before the %v delay", i+1, took, delay)
		}
	}
	// Locked out: the right password is refused, at once.
	start := time.Now()
	err = c.Login("alice@hamburger.edu", "alice-pw").Wait()
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeUnavailable {
		t.Fatalf("login while locked out: %v, want NO [UNAVAILABLE]", err)
	}
	if took := time.Since(start); took > delay {
		t.Errorf("lockout answered after %v; a locked-out login should not wait", took)
	}
	if r := pop3Login(t, pop3Addr, "alice@hamburger.edu", "alice-pw"); !strings.HasPrefix(r, "-ERR [SYS/TEMP] too many failed logins") {
		t.Errorf("POP3 login while locked out: %q", r)
	}
	sc, err := smtp.DialStartTLS(in.subAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var serr *smtp.SMTPError
	if err := sc.Auth(sasl.NewPlainClient("", "alice@hamburger.edu", "alice-pw")); !errors.As(err, &serr) || serr.Code != 454 {
		t.Errorf("SMTP AUTH while locked out: %v, want 454", err)
	}
	if got := scrapeMetric(t, in, "petrel_auth_failures_total", `protocol="imap"`); got != 3 {
		t.Errorf(`auth_failures{protocol="imap"} = %v, want 3 (lockout refusals are not failures)`, got)
	}
}

// Failed logins to one account from several addresses delay the next
// login to it from yet another address, on any protocol; once that address
// has logged in, it is no longer delayed. No address is locked out.
func TestAuthLimitPerAccount(t *testing.T) {
	const delay = 2 * time.Second // the last check needs a login to take less: room for a loaded machine (1 s failed 1 run in 50 at a load of 20 on 2 cores)
	in, pop3Addr, _ := metricsInstance(t, fmt.Sprintf("fail_delay = %q\nmax_fail_delay = \"10s\"\naccount_max_fail_delay = \"10s\"\nlockout_failures = 2\n", delay))
	imapFrom := func(from, pass string) (time.Duration, error) {
		conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).Dial("tcp", in.imapAddr)
		if err != nil {
			t.Fatal(err)
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		start := time.Now()
		err = c.Login("alice@hamburger.edu", pass).Wait()
		return time.Since(start), err
	}
	if _, err := imapFrom("127.0.0.2", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	took, err := imapFrom("127.0.0.3", "wrong")
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	if took < delay {
		t.Errorf("second failure for the account, from a new address, answered after %v, before %v", took, delay)
	}
	start := time.Now()
	if r := pop3LoginFrom(t, "127.0.0.4", pop3Addr, "alice@hamburger.edu", "alice-pw"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("POP3 login with the right password from a third address: %q", r)
	}
	if took := time.Since(start); took < 2*delay {
		t.Errorf("login to an account with 2 failures answered after %v, before %v", took, 2*delay)
	}
	start = time.Now()
	if r := pop3LoginFrom(t, "127.0.0.4", pop3Addr, "alice@hamburger.edu", "alice-pw"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("second POP3 login: %q", r)
	}
	if took := time.Since(start); took >= delay {
		t.Errorf("an address that logged in is still delayed by the account's failures: %v", took)
	}
}
