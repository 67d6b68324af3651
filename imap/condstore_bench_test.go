package imap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"petrel/store"
)

// loadInbox puts n small messages sharing one body into INBOX quickly, the
// way a restore does (LoadMessages, then LoadMailbox for the counts).
func loadInbox(tb testing.TB, e *env, n int) *store.Mailbox {
	tb.Helper()
	id := e.inbox(tb)
	body := []byte("From: a@example.net\r\nSubject: hello\r\n\r\nbody\r\n")
	const blob = 1 << 40
	for start := 1; start <= n; start += 10_000 {
		var msgs []store.MessageDump
		for uid := start; uid < start+10_000 && uid <= n; uid++ {
			d := store.MessageDump{Blob: blob, Body: body}
			d.UID = store.UID(uid)
			d.ModSeq = uint64(uid + 1)
			d.Size = int64(len(body))
			d.InternalDate = time.Unix(1_700_000_000, 0)
			msgs = append(msgs, d)
		}
		if err := e.st.LoadMessages(context.Background(), id, msgs); err != nil {
			tb.Fatal(err)
		}
	}
	m, err := e.st.MailboxByID(id)
	if err != nil {
		tb.Fatal(err)
	}
	m.UIDNext = store.UID(n + 1)
	m.ModSeq = uint64(n + 1)
	m.Messages = uint32(n)
	m.Unseen = uint32(n)
	m.Size = int64(n * len(body))
	if err := e.st.LoadMailbox(context.Background(), *m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkCondstoreResync: a client that knows a mailbox of
// PETREL_BENCH_MESSAGES (default 100,000) messages as of MODSEQ m comes
// back after 10 flags changed. Each resync (RFC 7162) must touch only what
// changed: FETCH 1:* (FLAGS) (CHANGEDSINCE m), SELECT … (QRESYNC …) and
// UID SEARCH MODSEQ m, timed from command to tagged reply over loopback.
//
//	go test -run XXX -bench CondstoreResync ./imap/
func BenchmarkCondstoreResync(b *testing.B) {
	n := benchMessages()
	e := newEnv(b)
	m := loadInbox(b, e, n)
	for i := range 10 {
		if _, err := e.st.StoreFlags(context.Background(), m.ID, []store.UID{store.UID(1 + i*(n/10))}, store.FlagsAdd, []string{store.FlagFlagged}); err != nil {
			b.Fatal(err)
		}
	}
	// Another session keeps INBOX open, as a phone's IDLE would.
	other := e.raw(b)
	other.login(b)
	other.cmd(b, "SELECT INBOX", "OK")
	r := e.raw(b)
	r.login(b)
	r.cmd(b, "ENABLE QRESYNC", "OK")
	r.cmd(b, "SELECT INBOX", "OK")
	count := func(out, what string) int { return strings.Count(out, what) }
	b.Run("FETCH_1:*_FLAGS_CHANGEDSINCE", func(b *testing.B) {
		for b.Loop() {
			out := r.cmd(b, fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m.ModSeq), "OK")
			if k := count(out, " FETCH ("); k != 10 {
				b.Fatalf("%d FETCH responses:\n%s", k, out)
			}
		}
	})
	b.Run("UID_SEARCH_MODSEQ", func(b *testing.B) {
		for b.Loop() {
			out := r.cmd(b, fmt.Sprintf("UID SEARCH MODSEQ %d", m.ModSeq+1), "OK")
			if !strings.HasPrefix(out, "* SEARCH ") || len(strings.Fields(strings.SplitN(out, "\r\n", 2)[0])) != 2+10+2 {
				b.Fatalf("search:\n%s", out)
			}
		}
	})
	b.Run("SELECT_QRESYNC", func(b *testing.B) {
		for b.Loop() {
			out := r.cmd(b, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", m.UIDValidity, m.ModSeq), "OK")
			if k := count(out, " FETCH ("); k != 10 {
				b.Fatalf("%d FETCH responses:\n%s", k, out)
			}
		}
	})
}

// BenchmarkDeliverIntoBigMailbox: deliveries into an INBOX of
// PETREL_BENCH_MESSAGES (default 100,000) messages that three sessions
// hold selected in IDLE, each told of every new message. What a delivery
// costs the server (B/op, allocs/op) must not grow with the mailbox: no
// copy of the UID list per delivery, on the committer or in a session.
//
//	go test -run XXX -bench DeliverIntoBigMailbox -benchmem ./imap/
func BenchmarkDeliverIntoBigMailbox(b *testing.B) {
	n := benchMessages()
	e := newEnv(b)
	loadInbox(b, e, n)
	var idlers []*rawConn
	for range 3 {
		r := e.raw(b)
		r.login(b)
		r.cmd(b, "SELECT INBOX", "OK")
		r.send(b, "i IDLE")
		if l := r.line(b); !strings.HasPrefix(l, "+") {
			b.Fatalf("IDLE: %q", l)
		}
		idlers = append(idlers, r)
	}
	body := []byte("From: a@example.net\r\nSubject: new\r\n\r\nnew\r\n")
	b.ReportAllocs()
	k := n
	for b.Loop() {
		if _, err := e.st.Deliver(context.Background(), &store.Delivery{Body: body, Targets: []store.Target{{Account: e.acct.ID}}}); err != nil {
			b.Fatal(err)
		}
		k++
		want := fmt.Sprintf("* %d EXISTS", k)
		for _, r := range idlers {
			for {
				l := r.line(b)
				if strings.HasPrefix(l, want) {
					break
				}
			}
		}
	}
}
