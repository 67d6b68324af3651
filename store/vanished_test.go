package store_test

import (
	"slices"
	"testing"

	"petrel/store"
	"petrel/store/storetest"
)

// TestVanished: each expunge (and MOVE) records its UIDs under the MODSEQ
// it gave the mailbox; Vanished(since) is exact, and goes with the mailbox.
func TestVanished(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	for _, b := range []string{"a\r\n", "b\r\n", "c\r\n", "d\r\n"} {
		deliver(t, s, a, b)
	}
	m0, _ := s.MailboxByID(in.ID)
	if _, err := s.Expunge(ctx, in.ID, []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	m1, _ := s.MailboxByID(in.ID)
	box, err := s.CreateMailbox(ctx, a.ID, "Box", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, in.ID, []store.UID{1, 4}, box.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since uint64
		want  []store.UID
	}{
		{0, []store.UID{1, 2, 4}},
		{m0.ModSeq, []store.UID{1, 2, 4}},
		{m1.ModSeq, []store.UID{1, 4}},
		{m1.ModSeq + 100, nil},
	} {
		got, err := s.Vanished(in.ID, tc.since)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Vanished(%d) = %v, %v; want %v", tc.since, got, err, tc.want)
		}
	}
	if got, _ := s.Vanished(box.ID, 0); len(got) != 0 {
		t.Errorf("Vanished of the destination = %v", got)
	}
	if _, err := s.Expunge(ctx, box.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Box"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Vanished(box.ID, 0); len(got) != 0 {
		t.Errorf("history of a deleted mailbox = %v", got)
	}
}
