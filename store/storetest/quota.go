package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"petrel/store"
)

// testQuota: an account's usage is the sum of its messages' sizes and
// their number whatever wrote them; AppendWithinQuota and Copy refuse
// past a limit with store.ErrOverQuota and change nothing; a Move does
// not count twice; 0 means no limit.
func testQuota(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	m0, m1 := msg(0), msg(1)
	mustDeliver(t, b, a.ID, m0)
	if _, err := b.AppendMany(bg, in.ID, []store.AppendItem{{Body: m1}}); err != nil {
		t.Fatal(err)
	}
	used := int64(len(m0) + len(m1))
	q, err := b.Quota(a.ID)
	if err != nil || q.Storage != used || q.Messages != 2 || q.StorageLimit != 0 || q.MessageLimit != 0 {
		t.Fatalf("Quota = %+v, %v; want %d bytes in 2 messages, no limits", q, err, used)
	}
	if err := b.SetQuota(bg, "bob@example.org", used+int64(len(m0))+1, 3); err != nil {
		t.Fatal(err)
	}
	arch, err := b.CreateMailbox(bg, a.ID, "Kept", "")
	if err != nil {
		t.Fatal(err)
	}
	// Two more do not fit by count; nothing of them is stored.
	if _, err := b.AppendWithinQuota(bg, in.ID, []store.AppendItem{{Body: msg(2)}, {Body: msg(3)}}); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("AppendWithinQuota past the message limit: %v, want ErrOverQuota", err)
	}
	if l, _ := b.List(in.ID); len(l) != 2 {
		t.Fatalf("a refused append left %d messages, want 2", len(l))
	}
	// A copy of both does not fit either; a move of both does.
	if _, err := b.Copy(bg, in.ID, []store.UID{1, 2}, arch.ID); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("Copy past the limits: %v, want ErrOverQuota", err)
	}
	if _, err := b.Move(bg, in.ID, []store.UID{1, 2}, arch.ID); err != nil {
		t.Fatalf("Move within the account: %v", err)
	}
	if _, err := b.AppendWithinQuota(bg, arch.ID, []store.AppendItem{{Body: m0}}); err != nil {
		t.Fatalf("AppendWithinQuota within the limits: %v", err)
	}
	q, err = b.Quota(a.ID)
	if err != nil || q.Storage != used+int64(len(m0)) || q.Messages != 3 || q.MessageLimit != 3 {
		t.Fatalf("Quota after the move and append = %+v, %v", q, err)
	}
	if _, err := b.Expunge(bg, arch.ID, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if q, _ := b.Quota(a.ID); q.Messages != 2 || q.Storage != used+int64(len(m0))-int64(len(m0)) {
		t.Fatalf("Quota after an expunge = %+v", q)
	}
	if err := b.SetQuota(bg, "bob@example.org", 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendWithinQuota(bg, in.ID, []store.AppendItem{{Body: msg(4)}, {Body: msg(5)}}); err != nil {
		t.Fatalf("no limits: %v", err)
	}
	if err := b.SetQuota(bg, "nobody@example.org", 1, 1); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("SetQuota of no account: %v, want ErrNoAccount", err)
	}
}

// testChangedSince: the messages whose MODSEQ is above a value, in UID
// order (CONDSTORE's CHANGEDSINCE), whatever changed them, each with its
// save date.
func testChangedSince(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	for i := range 5 {
		mustDeliver(t, b, a.ID, msg(i))
	}
	in := mustMailbox(t, b, a.ID, "INBOX")
	since := in.ModSeq
	if _, err := b.StoreFlags(bg, in.ID, []store.UID{4, 2}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, b, a.ID, msg(5))
	got, err := b.ChangedSince(in.ID, since)
	if err != nil || !slices.Equal(uids(got), []store.UID{2, 4, 6}) {
		t.Fatalf("ChangedSince(%d) = %v, %v; want 2 4 6", since, uids(got), err)
	}
	for _, m := range got {
		if m.ModSeq <= since {
			t.Errorf("message %d has MODSEQ %d, not above %d", m.UID, m.ModSeq, since)
		}
		// Its save date (IMAP SAVEDATE) is when it was put in INBOX.
		if d := time.Since(m.SaveDate); d < -2*time.Second || d > time.Minute {
			t.Errorf("message %d saved at %v, not just now", m.UID, m.SaveDate)
		}
	}
	if got, err := b.ChangedSince(in.ID, 1<<62); err != nil || len(got) != 0 {
		t.Errorf("ChangedSince(high) = %v, %v", uids(got), err)
	}
	if _, err := b.ChangedSince(store.MailboxID(1<<40), 0); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("ChangedSince of no mailbox: %v, want ErrNoMailbox", err)
	}
}

// testJunkJudge: a verdict's read (junk.Model's JunkJudge) says trusted,
// and reads no counts, when the user wrote to one of the senders
// (whatever their case); otherwise it reads what JunkLookup reads.
func testJunkJudge(t *testing.T, f Factory) {
	b := junkBackend(t, f, JunkOptions{Tokens: words})
	a := mustAccount(t, b, "bob@example.org")
	if _, err := b.JunkTrain(bg, a.ID, []byte{1}, []string{"pills", "cheap"}, store.JunkSpam); err != nil {
		t.Fatal(err)
	}
	if err := b.JunkTrust(bg, a.ID, []string{"friend@example.net"}); err != nil {
		t.Fatal(err)
	}
	want, wantCounts := lookup(t, b, a.ID, "pills", "lunch")
	counts := make([]store.JunkCounts, 2)
	st, trusted, err := b.JunkJudge(a.ID, []string{"stranger@example.com"}, []string{"pills", "lunch"}, counts)
	if err != nil || trusted || st != want || !slices.Equal(counts, wantCounts) || counts[0].Spam != 1 {
		t.Errorf("JunkJudge(stranger) = %+v %v %+v, %v; want %+v, untrusted, %+v", st, trusted, counts, err, want, wantCounts)
	}
	counts = make([]store.JunkCounts, 2)
	_, trusted, err = b.JunkJudge(a.ID, []string{"stranger@example.com", " Friend@Example.NET"}, []string{"pills", "lunch"}, counts)
	if err != nil || !trusted || counts[0] != (store.JunkCounts{}) {
		t.Errorf("JunkJudge(friend) = trusted %v, counts %+v, %v; want trusted and no counts read", trusted, counts, err)
	}
}
