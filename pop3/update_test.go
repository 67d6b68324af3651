package pop3_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"petrel/pop3"
	"petrel/store"
	"petrel/store/storetest"
)

// watch records the store events of alice's INBOX.
func (e *env) watch(t testing.TB) <-chan store.Event {
	t.Helper()
	ch := make(chan store.Event, 100)
	_, stop, err := e.st.Watch(e.inbox.ID, func(ev store.Event) { ch <- ev })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ch
}

// TestDeleteOnlyAfterQuit: DELE marks, QUIT removes, and an IMAP session
// watching the INBOX is told by a store event that names the POP3 session
// as its origin.
func TestDeleteOnlyAfterQuit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uids := e.deliver(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n", "Subject: 3\r\n\r\n3\r\n")
	events := e.watch(t)
	c := e.login(t)
	c.expect("DELE 1", "+OK")
	c.expect("DELE 3", "+OK")
	c.expect("NOOP", "+OK")
	if got := e.inboxUIDs(t); len(got) != 3 {
		t.Fatalf("INBOX before QUIT = %v, want all three", got)
	}
	select {
	case ev := <-events:
		t.Fatalf("event before QUIT: %+v", ev)
	default:
	}
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 message left)")
	c.expectEOF()
	if got, want := e.inboxUIDs(t), []store.UID{uids[1]}; !slices.Equal(got, want) {
		t.Fatalf("INBOX after QUIT = %v, want %v", got, want)
	}
	select {
	case ev := <-events:
		if ev.Kind != store.EventExpunged || !slices.Equal(ev.UIDs, []store.UID{uids[0], uids[2]}) || ev.Origin == nil {
			t.Errorf("event = %+v, want expunge of %v with an origin", ev, []store.UID{uids[0], uids[2]})
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no expunge event after QUIT")
	}
	mb, err := e.st.MailboxByID(e.inbox.ID)
	if err != nil || mb.Messages != 1 {
		t.Errorf("INBOX STATUS after QUIT: %+v, %v; want 1 message", mb, err)
	}
}

// TestDroppedConnectionDeletesNothing: without QUIT there is no UPDATE.
func TestDroppedConnectionDeletesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n")
	c := e.login(t)
	c.expect("DELE 1", "+OK")
	c.expect("DELE 2", "+OK")
	c.conn.Close()
	// The lock is released once the server has seen the drop.
	c2 := e.loginEventually(t)
	c2.expect("STAT", "+OK 2 ")
	if got := e.inboxUIDs(t); len(got) != 2 {
		t.Errorf("INBOX after dropped connection = %v, want both messages", got)
	}
}

// loginEventually logs in, retrying while the maildrop is still locked.
func (e *env) loginEventually(t testing.TB) *client {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := e.dial(t)
		c.expect("USER alice@example.org", "+OK")
		r := c.cmd("PASS secret")
		if strings.HasPrefix(r, "+OK") {
			return c
		}
		if !strings.HasPrefix(r, "-ERR [IN-USE]") || time.Now().After(deadline) {
			t.Fatalf("PASS: %q", r)
		}
		c.conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInUse: one POP3 session per maildrop (RFC 1939 section 8); others
// get [IN-USE] and stay in AUTHORIZATION; IMAP-side writes go on.
func TestInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uids := e.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	first := e.login(t)

	second := e.dial(t)
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS secret", "-ERR [IN-USE]")
	second.expect("STAT", "-ERR") // still AUTHORIZATION
	third := e.dial(t)
	third.expect("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==", "-ERR [IN-USE]")

	// The store (IMAP, SMTP) is not locked out.
	if _, err := e.st.StoreFlags(context.Background(), e.inbox.ID, uids, store.FlagsAdd, []string{store.FlagFlagged}); err != nil {
		t.Fatalf("IMAP STORE during POP3 session: %v", err)
	}
	e.deliver(t, "Subject: 2\r\n\r\n2\r\n")

	first.expect("QUIT", "+OK")
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS secret", "+OK maildrop has 2 messages")
	third.expect("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==", "-ERR [IN-USE]")
}

// TestViewFixed: mail delivered during a session is not in it but is in
// the next; a message expunged over IMAP meanwhile gets -ERR on RETR.
func TestViewFixed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uids := e.deliver(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n")
	c := e.login(t)
	c.expect("STAT", "+OK 2 34")
	e.deliver(t, "Subject: 3\r\n\r\n3\r\n")
	if _, err := e.st.Expunge(context.Background(), e.inbox.ID, uids[:1]); err != nil {
		t.Fatal(err)
	}
	c.expect("STAT", "+OK 2 34")
	c.expect("LIST 3", "-ERR no message 3")
	c.expect("RETR 1", "-ERR message was removed by another client")
	c.expect("RETR 2", "+OK 17 octets")
	c.body()
	c.expect("DELE 1", "+OK") // already gone: QUIT must still succeed
	c.expect("QUIT", "+OK")
	c = e.loginEventually(t)
	c.expect("STAT", "+OK 2 34")
	c.expect("TOP 2 0", "+OK")
	if got := string(c.body()); got != "Subject: 3\r\n\r\n" {
		t.Errorf("new message in next session = %q", got)
	}
}

// TestRetrMarksSeen: RETR sets \Seen (for IMAP), with the session as the
// event's origin; the messages not retrieved stay unseen.
func TestRetrMarksSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uids := e.deliver(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n", "Subject: 3\r\n\r\n3\r\n")
	events := e.watch(t)
	c := e.login(t)
	for _, n := range []int{1, 3} {
		c.expect(fmt.Sprintf("RETR %d", n), "+OK")
		c.body()
	}
	c.expect("QUIT", "+OK")
	seen := map[store.UID]bool{}
	for len(seen) < 2 {
		select {
		case ev := <-events:
			if ev.Kind != store.EventFlags || ev.Origin == nil {
				t.Fatalf("event %+v, want flags from the POP3 session", ev)
			}
			for _, m := range ev.Messages {
				seen[m.UID] = m.Has(store.FlagSeen)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("flag events: %v, want UIDs %d and %d seen", seen, uids[0], uids[2])
		}
	}
	msgs, err := e.st.List(e.inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if want := i != 1; m.Has(store.FlagSeen) != want {
			t.Errorf("UID %d \\Seen = %v, want %v", m.UID, !want, want)
		}
	}
	mb, _ := e.st.MailboxByID(e.inbox.ID)
	if mb.Unseen != 1 {
		t.Errorf("INBOX unseen = %d, want 1", mb.Unseen)
	}
}

// TestUIDLStable: UIDLs survive sessions, a restart of server and store,
// and the expunge of other messages; a new message never reuses one.
func TestUIDLStable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mail.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct := storetest.Account(t, st, "alice@example.org")
	e := &env{st: st, acct: acct, inbox: storetest.Inbox(t, st, acct)}
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n", "Subject: 2\r\n\r\n2\r\n", "Subject: 3\r\n\r\n3\r\n")

	uidl := func() []string {
		t.Helper()
		e.srv = pop3.New(pop3.Options{Store: e.st, LoginDelay: -1, Logger: quiet()})
		l := listen(t)
		e.addr = l.Addr().String()
		done := make(chan error, 1)
		go func() { done <- e.srv.Serve(l) }()
		c := e.login(t)
		c.expect("UIDL", "+OK")
		var ids []string
		for _, l := range c.lines() {
			ids = append(ids, strings.Fields(l)[1])
		}
		c.expect("QUIT", "+OK")
		e.srv.Shutdown(context.Background())
		<-done
		return ids
	}
	before := uidl()
	if again := uidl(); !slices.Equal(before, again) {
		t.Fatalf("UIDL changed between sessions: %v then %v", before, again)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if e.st, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer e.st.Close()
	if after := uidl(); !slices.Equal(before, after) {
		t.Fatalf("UIDL changed across restart: %v then %v", before, after)
	}
	if _, err := e.st.Expunge(context.Background(), e.inbox.ID, []store.UID{1, 3}); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, "Subject: 4\r\n\r\n4\r\n")
	after := uidl()
	if len(after) != 2 || after[0] != before[1] || slices.Contains(before, after[1]) {
		t.Fatalf("after expunge and delivery UIDL = %v (before %v): want %s kept and a new id", after, before, before[1])
	}
}
