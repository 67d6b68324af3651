package mta

import (
	"context"
	"strings"
	"sync"
	"testing"

	"petrel/store"
)

func setQuota(t *testing.T, s *store.Store, addr string, bytes, msgs int64) {
	t.Helper()
	if err := s.SetQuota(context.Background(), addr, bytes, msgs); err != nil {
		t.Fatal(err)
	}
}

// TestQuotaAtDelivery: an account over its quota is refused at RCPT
// (452 4.2.2) while the other recipients get the message; one the message
// would take past its limit is refused at DATA (552 5.2.2): in the DATA
// reply when it was the only recipient, by a DSN when others took it.
func TestQuotaAtDelivery(t *testing.T) {
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n"
	for _, tc := range []struct {
		name           string
		bytes, msgs    int64
		mail           string
		rcpts          []string
		rcptCodes      []int
		dataCode       int
		bobGets, alice int
		dsn            bool
		refusals       string // OnOverQuota's calls
	}{
		{"full at RCPT, others accepted", 0, 1, "MAIL FROM:<x@crepes.fr>", []string{"bob", "alice"}, []int{452, 250}, 250, 1, 1, false, "smtp-rcpt"},
		{"full at RCPT, alone", 0, 1, "MAIL FROM:<x@crepes.fr>", []string{"bob"}, []int{452}, 503, 1, 0, false, "smtp-rcpt"},
		{"declared SIZE over the limit", 1500, 0, "MAIL FROM:<x@crepes.fr> SIZE=2100", []string{"bob", "alice"}, []int{552, 250}, 250, 1, 1, false, "smtp-rcpt"},
		{"message too big at DATA, alone", 1500, 0, "MAIL FROM:<x@crepes.fr>", []string{"bob"}, []int{250}, 552, 1, 0, false, "smtp-data"},
		{"message too big at DATA, others took it", 1500, 0, "MAIL FROM:<x@crepes.fr>", []string{"bob", "alice"}, []int{250, 250}, 250, 1, 1, true, "smtp-data"},
		{"fits", 100000, 10, "MAIL FROM:<x@crepes.fr> SIZE=2100", []string{"bob", "alice"}, []int{250, 250}, 250, 2, 1, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBouncer{}
			var mu sync.Mutex
			var refusals []string
			ts := newTestServer(t, func(o *Options) {
				o.Bouncer = b
				o.OnOverQuota = func(where string) {
					mu.Lock()
					defer mu.Unlock()
					refusals = append(refusals, where)
				}
			})
			if err := sendPlain(t, ts.smtpAddr, "y@crepes.fr", []string{"bob@hamburger.edu"}, strings.NewReader("Subject: first\r\n\r\nx\r\n")); err != nil {
				t.Fatal(err)
			}
			setQuota(t, ts.store, "bob@hamburger.edu", tc.bytes, tc.msgs)
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO crepes.fr", 250)
			d.expect(tc.mail, 250)
			for i, r := range tc.rcpts {
				msg := d.expect("RCPT TO:<"+r+"@hamburger.edu>", tc.rcptCodes[i])
				if tc.rcptCodes[i] == 452 && !strings.HasPrefix(msg, "4.2.2 ") || tc.rcptCodes[i] == 552 && !strings.HasPrefix(msg, "5.2.2 ") {
					t.Errorf("RCPT %s: %q, want the mailbox-full status 4.2.2/5.2.2", r, msg)
				}
			}
			code, msg := d.send("DATA")
			if code == 354 {
				d.tp.PrintfLine("%s.", big)
				code, msg = d.read()
			}
			if code != tc.dataCode {
				t.Fatalf("DATA: %d %s, want %d", code, msg, tc.dataCode)
			}
			if code == 552 && !strings.HasPrefix(msg, "5.2.2 ") {
				t.Errorf("DATA: %q, want 5.2.2", msg)
			}
			if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != tc.bobGets {
				t.Errorf("bob has %d messages, want %d", len(msgs), tc.bobGets)
			}
			if _, msgs := inbox(t, ts.store, "alice@hamburger.edu"); len(msgs) != tc.alice {
				t.Errorf("alice has %d messages, want %d", len(msgs), tc.alice)
			}
			mu.Lock()
			if got := strings.Join(refusals, " "); got != tc.refusals {
				t.Errorf("OnOverQuota calls %q, want %q", got, tc.refusals)
			}
			mu.Unlock()
			var dsns int
			for _, d := range b.all() {
				if d.from == "x@crepes.fr" && len(d.failed) == 1 && d.failed[0].Rcpt == "bob@hamburger.edu" && d.failed[0].Status() == "5.2.2" {
					dsns++
				}
			}
			if want := map[bool]int{false: 0, true: 1}[tc.dsn]; dsns != want || len(b.all()) != want {
				t.Errorf("%d DSNs (5.2.2 for bob) to the sender, want %d: %+v", dsns, want, b.all())
			}
		})
	}
}

// TestQuotaAliasMember: an alias to a full account and another takes the
// message for the other, and the sender gets a DSN (5.2.2) naming the
// full account; an alias whose only account is full is refused at RCPT.
func TestQuotaAliasMember(t *testing.T) {
	b := &fakeBouncer{}
	ts := newTestServer(t, func(o *Options) { o.Bouncer = b })
	setAlias(t, ts.store, "team@hamburger.edu", "bob@hamburger.edu", "alice@hamburger.edu")
	setAlias(t, ts.store, "bobby@hamburger.edu", "bob@hamburger.edu")
	setQuota(t, ts.store, "bob@hamburger.edu", 500, 0)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("MAIL FROM:<x@crepes.fr>", 250)
	d.expect("RCPT TO:<team@hamburger.edu>", 250)
	d.expect("DATA", 354)
	d.tp.PrintfLine("Subject: big\r\n\r\n%s\r\n.", strings.Repeat("x", 1000))
	if code, msg := d.read(); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	if _, msgs := inbox(t, ts.store, "alice@hamburger.edu"); len(msgs) != 1 {
		t.Errorf("alice has %d messages, want 1", len(msgs))
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 0 {
		t.Errorf("bob has %d messages, want 0", len(msgs))
	}
	got := b.all()
	if len(got) != 1 || len(got[0].failed) != 1 || got[0].failed[0].Rcpt != "bob@hamburger.edu" || got[0].failed[0].Status() != "5.2.2" {
		t.Errorf("DSNs: %+v, want one 5.2.2 for bob@hamburger.edu", got)
	}
	bob, err := ts.store.AccountByAddress("bob@hamburger.edu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.Deliver(bg, &store.Delivery{Body: []byte("Subject: s\r\n\r\nx\r\n"), Targets: []store.Target{{Account: bob.ID}}}); err != nil {
		t.Fatal(err)
	}
	setQuota(t, ts.store, "bob@hamburger.edu", 0, 1)
	d.expect("MAIL FROM:<x@crepes.fr>", 250)
	d.expect("RCPT TO:<bobby@hamburger.edu>", 452)
	d.expect("RCPT TO:<team@hamburger.edu>", 250) // alice takes it
	d.expect("RSET", 250)
}
