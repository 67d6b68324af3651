package mta

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/store"
)

func newList(t *testing.T, st *store.Store, l store.List, members ...string) {
	t.Helper()
	if _, err := st.CreateList(bg, l); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddMembers(bg, l.Address, members); err != nil {
		t.Fatal(err)
	}
}

func unsubURL(list, member string) string {
	return "https://mx.hamburger.edu/unsubscribe?l=" + list + "&m=" + member
}

// batchQueue is a fakeQueue that also has EnqueueEach, as *queue.Queue.
type batchQueue struct {
	*fakeQueue
	mu      sync.Mutex
	batches int
}

func (b *batchQueue) EnqueueEach(ctx context.Context, from string, rcpts []string, msgs [][]byte) ([]string, error) {
	b.mu.Lock()
	b.batches++
	b.mu.Unlock()
	var ids []string
	for i, r := range rcpts {
		id, err := b.Enqueue(ctx, from, []string{r}, msgs[i])
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// A post expands once to every enabled member: local ones stored with
// their own List-Unsubscribe, the others (remote, or a local alias)
// queued one copy each from the bounce address, in one batch; the List-*
// fields of RFC 2369, 2919 and 8058 are there.
func TestListExpansion(t *testing.T) {
	var bq *batchQueue
	ts := newTestServer(t, func(o *Options) {
		o.UnsubscribeURL = unsubURL
		bq = &batchQueue{fakeQueue: o.Queue.(*fakeQueue)}
		o.Queue = bq
	})
	storeAcct(t, ts, "carol@hamburger.edu")
	setAlias(t, ts.store, "fwd@hamburger.edu", "dave@remote.example")
	newList(t, ts.store, store.List{Address: "news@hamburger.edu", ReplyTo: store.ReplyToList, Archive: "https://lists.hamburger.edu/news/"},
		"bob@hamburger.edu", "alice+lists@hamburger.edu", "carol@hamburger.edu", "eve@remote.example", "fwd@hamburger.edu")
	ts.store.RecordBounce(bg, "news@hamburger.edu", "carol@hamburger.edu", time.Now(), 1) // disabled

	post := "From: Alice <alice@hamburger.edu>\r\nReply-To: alice-private@crepes.fr\r\nList-Unsubscribe: <https://other.example/x>\r\nSubject: hello list\r\n\r\nHi all\r\n"
	if err := sendPlain(t, ts.smtpAddr, "alice@hamburger.edu", []string{"news@hamburger.edu"}, strings.NewReader(post)); err != nil {
		t.Fatal(err)
	}
	shared := []string{"List-Id: <news.hamburger.edu>\r\n", "List-Post: <mailto:news@hamburger.edu>\r\n",
		"List-Archive: <https://lists.hamburger.edu/news/>\r\n", "Precedence: list\r\n", "Reply-To: <news@hamburger.edu>\r\n",
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", "Subject: hello list", "Hi all"}
	check := func(who, member, copy string) {
		t.Helper()
		for _, want := range append(shared, "List-Unsubscribe: <"+unsubURL("news@hamburger.edu", member)+">\r\n") {
			if !strings.Contains(copy, want) {
				t.Errorf("%s's copy lacks %q:\n%s", who, want, copy)
			}
		}
		for _, not := range []string{"alice-private@crepes.fr", "other.example/x"} {
			if strings.Contains(copy, not) {
				t.Errorf("%s's copy keeps %q:\n%s", who, not, copy)
			}
		}
		if n := strings.Count(copy, "Received: "); n != 1 {
			t.Errorf("%s's copy has %d Received fields, want this hop's", who, n)
		}
	}
	for who, member := range map[string]string{"bob@hamburger.edu": "bob@hamburger.edu", "alice@hamburger.edu": "alice+lists@hamburger.edu"} {
		_, msgs := inbox(t, ts.store, who)
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages, want 1", who, len(msgs))
		}
		copy := string(msgs[0])
		check(who, member, copy)
		if !strings.HasPrefix(copy, "Return-Path: <news-bounces@hamburger.edu>\r\nDelivered-To: "+member+"\r\nReceived: ") {
			t.Errorf("%s's copy starts:\n%s", who, copy[:200])
		}
	}
	if _, msgs := inbox(t, ts.store, "carol@hamburger.edu"); len(msgs) != 0 {
		t.Error("a disabled member got the post")
	}
	q := bq.all()
	if len(q) != 2 || bq.batches != 1 {
		t.Fatalf("%d queued in %d batches, want 2 in 1", len(q), bq.batches)
	}
	for _, e := range q {
		if e.from != "news-bounces@hamburger.edu" || len(e.rcpts) != 1 {
			t.Errorf("queued from <%s> to %v", e.from, e.rcpts)
			continue
		}
		check(e.rcpts[0], e.rcpts[0], string(e.msg))
	}
}

func expectRefused(t *testing.T, err error, code int, sub string) {
	t.Helper()
	var se *smtp.SMTPError
	if !asSMTP(err, &se) || se.Code != code || !strings.Contains(se.Message, sub) {
		t.Errorf("got %v, want %d … %s", err, code, sub)
	}
}

// Members-only lists refuse others with a reply that says why; a member
// may post from another envelope sender when From is theirs; a
// moderated list takes its moderators only; "anyone" takes anyone.
func TestListPostingPolicy(t *testing.T) {
	ts := newTestServer(t)
	newList(t, ts.store, store.List{Address: "club@hamburger.edu"}, "bob@hamburger.edu", "eve@crepes.fr")
	newList(t, ts.store, store.List{Address: "announce@hamburger.edu", Post: store.PostModerators, Moderators: []string{"boss@crepes.fr"}}, "bob@hamburger.edu")
	newList(t, ts.store, store.List{Address: "open@hamburger.edu", Post: store.PostAnyone}, "bob@hamburger.edu")
	msg := func(from string) *strings.Reader {
		return strings.NewReader("From: " + from + "\r\nSubject: post\r\n\r\nbody\r\n")
	}
	err := sendPlain(t, ts.smtpAddr, "mallory@evil.example", []string{"club@hamburger.edu"}, msg("mallory@evil.example"))
	expectRefused(t, err, 550, "only members may post to this list, and <mallory@evil.example> is not one of them")
	if err := sendPlain(t, ts.smtpAddr, "bounces+eve@mailer.example", []string{"club@hamburger.edu"}, msg("Eve <eve@crepes.fr>")); err != nil {
		t.Errorf("member in From: %v", err)
	}
	// A list that is a member posts from its bounce address.
	ts.store.AddMembers(bg, "club@hamburger.edu", []string{"parent@lists.example"})
	if err := sendPlain(t, ts.smtpAddr, "parent-bounces@lists.example", []string{"club@hamburger.edu"}, msg("mallory@evil.example")); err != nil {
		t.Errorf("member list: %v", err)
	}
	err = sendPlain(t, ts.smtpAddr, "bob@hamburger.edu", []string{"announce@hamburger.edu"}, msg("bob@hamburger.edu"))
	expectRefused(t, err, 550, "only its moderators may post")
	if err := sendPlain(t, ts.smtpAddr, "boss@crepes.fr", []string{"announce@hamburger.edu"}, msg("boss@crepes.fr")); err != nil {
		t.Errorf("moderator: %v", err)
	}
	if err := sendPlain(t, ts.smtpAddr, "mallory@evil.example", []string{"open@hamburger.edu"}, msg("mallory@evil.example")); err != nil {
		t.Errorf("anyone: %v", err)
	}
	_, msgs := inbox(t, ts.store, "bob@hamburger.edu")
	if len(msgs) != 4 {
		t.Errorf("bob has %d messages, want 4 (club twice, announce, open)", len(msgs))
	}
	for _, m := range msgs {
		if strings.Contains(string(m), "List-Id: <announce.hamburger.edu>") && !strings.Contains(string(m), "List-Post: NO\r\n") {
			t.Errorf("moderated list's copy without List-Post: NO:\n%s", m)
		}
	}

	// With another recipient too, the message is refused at DATA: the
	// client has the error, and no DSN goes to a sender that may be
	// forged (issue 18.6).
	fb := &fakeBouncer{}
	ts2 := newTestServer(t, func(o *Options) { o.Bouncer = fb })
	newList(t, ts2.store, store.List{Address: "club@hamburger.edu"}, "alice@hamburger.edu")
	err = sendPlain(t, ts2.smtpAddr, "mallory@evil.example", []string{"bob@hamburger.edu", "club@hamburger.edu"}, msg("mallory@evil.example"))
	expectRefused(t, err, 550, "only members may post to this list, and <mallory@evil.example> is not one of them")
	if _, msgs := inbox(t, ts2.store, "bob@hamburger.edu"); len(msgs) != 0 {
		t.Errorf("bob has %d messages of a refused message", len(msgs))
	}
	if _, msgs := inbox(t, ts2.store, "alice@hamburger.edu"); len(msgs) != 0 {
		t.Errorf("the list expanded a non-member's post")
	}
	if b := fb.all(); len(b) != 0 {
		t.Errorf("bounces %+v, want none", b)
	}
}

// A message that already carries the list's List-Id is not expanded
// again: refused, alone or with others, and never bounced.
func TestListLoop(t *testing.T) {
	fb := &fakeBouncer{}
	ts := newTestServer(t, func(o *Options) { o.Bouncer = fb })
	newList(t, ts.store, store.List{Address: "news@hamburger.edu", Post: store.PostAnyone}, "alice@hamburger.edu", "other-list@remote.example")
	looped := "List-Id: <other-list.remote.example>\r\nList-Id: <NEWS.hamburger.edu>\r\nFrom: x@remote.example\r\nSubject: round\r\n\r\nagain\r\n"
	err := sendPlain(t, ts.smtpAddr, "other-list-bounces@remote.example", []string{"news@hamburger.edu"}, strings.NewReader(looped))
	expectRefused(t, err, 554, "mail loop: this message already went through the list news@hamburger.edu")
	err = sendPlain(t, ts.smtpAddr, "other-list-bounces@remote.example", []string{"news@hamburger.edu", "bob@hamburger.edu"}, strings.NewReader(looped))
	expectRefused(t, err, 554, "mail loop")
	for _, a := range []string{"alice@hamburger.edu", "bob@hamburger.edu"} {
		if _, msgs := inbox(t, ts.store, a); len(msgs) != 0 {
			t.Errorf("the looping message reached %s", a)
		}
	}
	if len(ts.queue.all()) != 0 {
		t.Error("the looping message was queued")
	}
	if b := fb.all(); len(b) != 0 {
		t.Errorf("bounces %+v, want none", b)
	}
	// Another list's List-Id alone is no loop.
	other := "List-Id: <other-list.remote.example>\r\nFrom: x@remote.example\r\nSubject: nested\r\n\r\nhi\r\n"
	if err := sendPlain(t, ts.smtpAddr, "other-list-bounces@remote.example", []string{"news@hamburger.edu"}, strings.NewReader(other)); err != nil {
		t.Fatal(err)
	}
	_, msgs := inbox(t, ts.store, "alice@hamburger.edu")
	if len(msgs) != 1 || strings.Count(string(msgs[0]), "List-Id: ") != 2 {
		t.Errorf("nested list copy: %q", msgs)
	}
}

// dsnFor is a bounce report as Petrel's queue writes one.
func dsnFor(rcpt, action string) string {
	return "From: MAILER-DAEMON@remote.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n" +
		"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.example\r\n\r\n" +
		"Final-Recipient: rfc822; " + rcpt + "\r\nAction: " + action + "\r\nStatus: 5.1.1\r\n\r\n" +
		"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: hello list\r\n\r\n--b1--\r\n"
}

// Bounces to the list's bounce address count per member and day; on the
// Nth day the member is disabled and told (from the null sender); a delay
// report and mail that is no report count for nothing.
func TestListBounceCounting(t *testing.T) {
	day := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := day
	ts := newTestServer(t, func(o *Options) {
		o.ListBounceDays = 2
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	newList(t, ts.store, store.List{Address: "news@hamburger.edu"}, "eve@remote.example", "bob@hamburger.edu")
	send := func(body string) {
		t.Helper()
		if err := sendPlain(t, ts.smtpAddr, "", []string{"news-bounces@hamburger.edu"}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	member := func() *store.Member {
		m, err := ts.store.ListMember("news@hamburger.edu", "eve@remote.example")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	send(dsnFor("eve@remote.example", "delayed"))
	send("Subject: out of office\r\n\r\nI am away.\r\n")
	if m := member(); len(m.BounceDays) != 0 {
		t.Fatalf("bounce days %v after a delay report and an auto-reply", m.BounceDays)
	}
	send(dsnFor("Eve@Remote.example", "failed"))
	send(dsnFor("eve@remote.example", "failed"))
	if m := member(); len(m.BounceDays) != 1 || m.Disabled {
		t.Fatalf("after two bounces on one day: %+v", m)
	}
	mu.Lock()
	now = day.Add(24 * time.Hour)
	mu.Unlock()
	send(dsnFor("eve@remote.example", "failed"))
	if m := member(); !m.Disabled {
		t.Fatalf("not disabled after bounces on 2 days: %+v", m)
	}
	q := ts.queue.all()
	if len(q) != 1 || q[0].from != "" || q[0].rcpts[0] != "eve@remote.example" || !strings.Contains(string(q[0].msg), "Subject: You no longer get the mail of news@hamburger.edu") {
		t.Fatalf("notice: %+v", q)
	}
	// The disabled member gets no more posts; bob still does.
	sendPlain(t, ts.smtpAddr, "bob@hamburger.edu", []string{"news@hamburger.edu"}, strings.NewReader("From: bob@hamburger.edu\r\nSubject: still here\r\n\r\nx\r\n"))
	if len(ts.queue.all()) != 1 {
		t.Error("a disabled member was sent a post")
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 1 {
		t.Errorf("bob has %d messages", len(msgs))
	}
	// Bounces the queue itself hands over come the same way.
	if err := ts.mta.DeliverLocal(bg, "", "news-bounces@hamburger.edu", []byte(dsnFor("bob@hamburger.edu", "failed"))); err != nil {
		t.Fatal(err)
	}
	if m, _ := ts.store.ListMember("news@hamburger.edu", "bob@hamburger.edu"); len(m.BounceDays) != 1 {
		t.Errorf("bob's bounce days after a queue DSN: %v", m.BounceDays)
	}
}
