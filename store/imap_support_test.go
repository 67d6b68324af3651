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
