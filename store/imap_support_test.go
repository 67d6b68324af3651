package store_test

import (
	"errors"
	"slices"
	"testing"

	"petrel/store"
	"petrel/store/storetest"
)

func TestReadContents(t *testing.T) {
	s := storetest.Open(t)
	acct := storetest.Account(t, s, "r@example.org")
	var uids []store.UID
	for _, subj := range []string{"one", "two", "three"} {
		uids = append(uids, deliver(t, s, acct, "Subject: "+subj+"\r\n\r\nbody "+subj+"\r\n").UID)
	}
	inbox := storetest.Inbox(t, s, acct)
	if _, err := s.Expunge(ctx, inbox.ID, uids[1:2]); err != nil {
		t.Fatal(err)
	}
	var got []string
	var seen []store.UID
	err := s.ReadContents(inbox.ID, []store.UID{uids[2], uids[1], uids[0], 999}, func(uid store.UID, c *store.Content, p *store.Part) error {
		seen = append(seen, uid)
		got = append(got, p.Envelope.Subject+"|"+string(c.Slice(p.BodyStart, p.Size())))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []store.UID{uids[2], uids[0]}) || !slices.Equal(got, []string{"three|body three\r\n", "one|body one\r\n"}) {
		t.Errorf("ReadContents: uids %v, got %q", seen, got)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ReadContents(inbox.ID, uids, func(store.UID, *store.Content, *store.Part) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("error from fn: %v after %d calls", err, n)
	}
	if err := s.ReadContents(store.MailboxID(12345), uids, func(store.UID, *store.Content, *store.Part) error { return nil }); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("missing mailbox: %v", err)
	}
}

// Whole-folder readers (SEARCH, the web mail's conversations) open the
// mailbox's buckets once per transaction, not once per message: the
// allocations per message read stay at what the record itself needs.
func TestReadHeadersAllocsPerMessage(t *testing.T) {
	s := storetest.Open(t)
	acct := storetest.Account(t, s, "r@example.org")
	inbox := storetest.Inbox(t, s, acct)
	var items []store.AppendItem
	for range 300 {
		items = append(items, store.AppendItem{Body: []byte("Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n")})
	}
	if _, err := s.AppendMany(ctx, inbox.ID, items); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.List(inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	uids := make([]store.UID, len(msgs))
	for i, m := range msgs {
		uids[i] = m.UID
	}
	n := 0
	read := func() {
		n = 0
		if err := s.ReadHeaders(inbox.ID, uids, func(store.UID, *store.Content, int64) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	per := testing.AllocsPerRun(5, read) / float64(len(uids))
	if n != len(uids) {
		t.Fatalf("read %d of %d messages", n, len(uids))
	}
	t.Logf("%.2f allocations per message", per)
	if per > 1.5 {
		t.Errorf("%.2f allocations per message read, want at most 1.5 (a bucket or cursor made per message?)", per)
	}
}
