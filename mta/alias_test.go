package mta

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/srs"
	"petrel/store"
)

var bg = context.Background()

func resolveOpts() store.ResolveOptions {
	return store.ResolveOptions{PlusSeparator: "+", IsLocal: func(d string) bool { return d == "hamburger.edu" }}
}

func setAlias(t *testing.T, st *store.Store, addr string, targets ...string) {
	t.Helper()
	if _, err := st.SetAlias(bg, addr, targets, resolveOpts()); err != nil {
		t.Fatal(err)
	}
}

func newSRS(t *testing.T, now time.Time) *srs.Rewriter {
	t.Helper()
	r, err := srs.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	r.Now = func() time.Time { return now }
	return r
}

// fakeBouncer records the DSNs the MTA asks for.
type fakeBouncer struct {
	mu  sync.Mutex
	got []bounced
}

type bounced struct {
	from   string
	failed []Failure
}

func (b *fakeBouncer) Bounce(_ context.Context, id, from string, failed []Failure, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, bounced{from, failed})
	return nil
}

func (b *fakeBouncer) all() []bounced {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]bounced(nil), b.got...)
}

// An alias chain reaches each account once; the remote target is queued
// with an SRS sender, Delivered-To and this hop's Received; a +tag works
// on an alias as on an account and stays visible in Delivered-To; the
// catch-all takes what nothing else does.
func TestAliases(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.SRS = newSRS(t, time.Now()) })
	storeAcct(t, ts, "carol@hamburger.edu")
	setAlias(t, ts.store, "devs@hamburger.edu", "alice@hamburger.edu", "bob+devs@hamburger.edu")
	setAlias(t, ts.store, "team@hamburger.edu", "devs@hamburger.edu", "bob@hamburger.edu", "dave@remote.example")
	setAlias(t, ts.store, "@hamburger.edu", "carol@hamburger.edu")

	if err := sendPlain(t, ts.smtpAddr, "eve@crepes.fr", []string{"Team+Q4@hamburger.edu"}, strings.NewReader("Subject: plans\r\n\r\nQ4 plans\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"alice@hamburger.edu", "bob@hamburger.edu"} {
		_, msgs := inbox(t, ts.store, who)
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages, want 1", who, len(msgs))
		}
		for _, want := range []string{"Delivered-To: " + who + "\r\n", "X-Original-To: team+q4@hamburger.edu\r\n", "for <Team+Q4@hamburger.edu>", "Q4 plans"} {
			if !strings.Contains(string(msgs[0]), want) {
				t.Errorf("%s's copy lacks %q:\n%s", who, want, msgs[0])
			}
		}
	}
	q := ts.queue.all()
	if len(q) != 1 {
		t.Fatalf("%d queued, want the forward", len(q))
	}
	if q[0].rcpts[0] != "dave@remote.example" || !regexp.MustCompile(`^SRS0=[a-z2-7]{6}=[A-Z2-7]{2}=crepes\.fr=eve@hamburger\.edu$`).MatchString(q[0].from) {
		t.Errorf("forward from <%s> to %v", q[0].from, q[0].rcpts)
	}
	fwd := string(q[0].msg)
	if !strings.HasPrefix(fwd, "Received: from ") || !strings.Contains(fwd, "Delivered-To: team+q4@hamburger.edu\r\n") {
		t.Errorf("forwarded copy:\n%s", fwd)
	}

	// Plus-addressing straight to an account: the tag is in Delivered-To.
	sendPlain(t, ts.smtpAddr, "eve@crepes.fr", []string{"bob+news@hamburger.edu"}, strings.NewReader("Subject: tagged\r\n\r\nx\r\n"))
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 2 || !strings.Contains(string(msgs[1]), "Delivered-To: bob+news@hamburger.edu\r\n") {
		t.Errorf("tagged copy:\n%s", msgs[len(msgs)-1])
	}
	// The catch-all.
	sendPlain(t, ts.smtpAddr, "eve@crepes.fr", []string{"whoever@hamburger.edu"}, strings.NewReader("Subject: catch\r\n\r\nx\r\n"))
	if _, msgs := inbox(t, ts.store, "carol@hamburger.edu"); len(msgs) != 1 || !strings.Contains(string(msgs[0]), "X-Original-To: whoever@hamburger.edu") {
		t.Errorf("catch-all: %q", msgs)
	}
}

func storeAcct(t *testing.T, ts *testServer, addr string) *store.Account {
	t.Helper()
	a, err := ts.store.CreateAccount(bg, addr, "secret")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A message that already went through an alias here (its Delivered-To)
// is refused as a loop, and so is one already delivered to an account.
func TestDeliveredToLoop(t *testing.T) {
	ts := newTestServer(t)
	setAlias(t, ts.store, "team@hamburger.edu", "bob@hamburger.edu", "dave@remote.example")
	for _, rcpt := range []string{"team@hamburger.edu", "bob@hamburger.edu"} {
		err := sendPlain(t, ts.smtpAddr, "eve@crepes.fr", []string{rcpt}, strings.NewReader("Delivered-To: "+strings.ToUpper(rcpt)+"\r\nSubject: again\r\n\r\nx\r\n"))
		var se *smtp.SMTPError
		if !asSMTP(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 4, 6}) || !strings.Contains(se.Message, "loop") {
			t.Errorf("to %s with its Delivered-To: %v, want 554 5.4.6 loop", rcpt, err)
		}
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 0 {
		t.Errorf("looping mail stored")
	}
	if len(ts.queue.all()) != 0 {
		t.Errorf("looping mail forwarded")
	}
}

// Bounces to SRS addresses of ours go on to the original sender; forged
// and expired ones are refused at RCPT.
func TestSRSBounceReturned(t *testing.T) {
	now := time.Now()
	r := newSRS(t, now)
	ts := newTestServer(t, func(o *Options) { o.SRS = r })
	addr, err := r.Forward("eve@crepes.fr", "hamburger.edu")
	if err != nil {
		t.Fatal(err)
	}
	dsn := "From: MAILER-DAEMON@remote.example\r\nSubject: Undelivered Mail\r\n\r\nYour message could not be delivered.\r\n"
	if err := sendPlain(t, ts.smtpAddr, "", []string{addr}, strings.NewReader(dsn)); err != nil {
		t.Fatal(err)
	}
	q := ts.queue.all()
	if len(q) != 1 || q[0].from != "" || len(q[0].rcpts) != 1 || q[0].rcpts[0] != "eve@crepes.fr" {
		t.Fatalf("queued %+v, want the bounce to eve@crepes.fr from <>", q)
	}
	if !strings.Contains(string(q[0].msg), "for <"+addr+">") || !strings.Contains(string(q[0].msg), "could not be delivered") {
		t.Errorf("returned bounce:\n%s", q[0].msg)
	}

	old, _ := newSRS(t, now.Add(-30*24*time.Hour)).Forward("eve@crepes.fr", "hamburger.edu")
	forged := strings.Replace(addr, "=eve@", "=mallory@", 1)
	for _, tc := range []struct{ addr, want string }{{old, "expired"}, {forged, "invalid"}, {"SRS0=zzzzzz=AA=crepes.fr=eve@hamburger.edu", "invalid"}} {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("HELO remote.example", 250)
		d.expect("MAIL FROM:<>", 250)
		if code, msg := d.send("RCPT TO:<" + tc.addr + ">"); code != 550 || !strings.Contains(msg, tc.want) {
			t.Errorf("RCPT %s: %d %s, want 550 … %s", tc.addr, code, msg, tc.want)
		}
	}
	if len(ts.queue.all()) != 1 {
		t.Errorf("a refused SRS address was queued")
	}
	// The queue hands bounces for local addresses to DeliverLocal: an SRS
	// address there goes the same way.
	if err := ts.mta.DeliverLocal(bg, "", addr, []byte(dsn)); err != nil {
		t.Fatal(err)
	}
	if q := ts.queue.all(); len(q) != 2 || q[1].rcpts[0] != "eve@crepes.fr" {
		t.Errorf("DeliverLocal to an SRS address queued %+v", q)
	}
	var se *smtp.SMTPError
	if err := ts.mta.DeliverLocal(bg, "", forged, []byte(dsn)); !asSMTP(err, &se) || se.Code != 550 {
		t.Errorf("DeliverLocal to a forged SRS address: %v, want 550", err)
	}
}

// checkerFunc adapts a function to Checker.
type checkerFunc func(CheckInput) *CheckResult

func (f checkerFunc) Check(_ context.Context, in CheckInput) (*CheckResult, error) { return f(in), nil }

// Mail let in despite failing DMARC p=reject reaches local mailboxes
// only: never a forward, never a list; for an alias that only forwards it
// is refused.
func TestDMARCRejectNotForwarded(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.Checker = checkerFunc(func(in CheckInput) *CheckResult {
			return &CheckResult{Junk: true, NoForward: strings.Contains(string(in.Message), "spoofed"), Reason: "DMARC fail (p=reject, quarantined by local policy)"}
		})
	})
	setAlias(t, ts.store, "team@hamburger.edu", "bob@hamburger.edu", "dave@remote.example")
	setAlias(t, ts.store, "out@hamburger.edu", "dave@remote.example")
	if err := sendPlain(t, ts.smtpAddr, "ceo@bank.example", []string{"team@hamburger.edu"}, strings.NewReader("From: ceo@bank.example\r\nSubject: spoofed\r\n\r\npay\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, msgs := mailbox(t, ts.store, "bob@hamburger.edu", "Junk"); len(msgs) != 1 {
		t.Errorf("bob's Junk has %d messages, want 1", len(msgs))
	}
	if len(ts.queue.all()) != 0 {
		t.Error("the message was forwarded")
	}
	err := sendPlain(t, ts.smtpAddr, "ceo@bank.example", []string{"out@hamburger.edu"}, strings.NewReader("From: ceo@bank.example\r\nSubject: spoofed\r\n\r\npay\r\n"))
	var se *smtp.SMTPError
	if !asSMTP(err, &se) || se.Code != 550 || !strings.Contains(se.Message, "DMARC") {
		t.Errorf("to an alias that only forwards: %v, want 550 … DMARC", err)
	}
	if len(ts.queue.all()) != 0 {
		t.Error("the message was forwarded")
	}
	// Without the DMARC failure the same alias forwards.
	sendPlain(t, ts.smtpAddr, "ceo@bank.example", []string{"out@hamburger.edu"}, strings.NewReader("From: ceo@bank.example\r\nSubject: real\r\n\r\nhi\r\n"))
	if len(ts.queue.all()) != 1 {
		t.Error("a message passing DMARC was not forwarded")
	}
}

func asSMTP(err error, se **smtp.SMTPError) bool {
	e, ok := err.(*smtp.SMTPError)
	if ok {
		*se = e
	}
	return ok
}
