package storetest

import (
	"errors"
	"slices"
	"sync"
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

// testQuotaEveryWrite: after every kind of write that adds or removes
// messages (a delivery to several accounts and folders with a prefix per
// copy, Append, AppendMany, AppendWithinQuota, COPY and MOVE across and
// within mailboxes, EXPUNGE, EXPUNGE of \Deleted, RENAME of INBOX,
// mailbox and account deletion), after flag changes and after a restart,
// each account's Quota is the truth: the sum of the sizes and the number
// of the messages in all its mailboxes, as List reads them.
func testQuotaEveryWrite(t *testing.T, f Factory) {
	b := f.New(t)
	bob := mustAccount(t, b, "bob@example.org")
	alice := mustAccount(t, b, "alice@example.org")
	carol := mustAccount(t, b, "carol@example.org")
	accts := []*store.Account{bob, alice, carol}
	check := func(when string) {
		t.Helper()
		for _, a := range accts {
			var want store.Quota
			boxes, err := b.Mailboxes(a.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range boxes {
				l, err := b.List(m.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, msg := range l {
					want.Storage += msg.Size
					want.Messages++
				}
			}
			q, err := b.Quota(a.ID)
			if err != nil || q.Storage != want.Storage || q.Messages != want.Messages {
				t.Errorf("after %s: Quota(%s) = %+v, %v; want %d bytes in %d messages", when, a.Address, q, err, want.Storage, want.Messages)
			}
		}
	}
	if _, err := b.CreateMailbox(bg, bob.ID, "Lists", ""); err != nil {
		t.Fatal(err)
	}
	check("creating accounts and a mailbox")

	d, err := b.Deliver(bg, &store.Delivery{Body: msg(0), Targets: []store.Target{
		{Account: bob.ID, Prefix: []byte("Delivered-To: bob@example.org\r\n")},
		{Account: alice.ID, Prefix: []byte("Delivered-To: alice@example.org\r\n")},
		{Account: bob.ID, Mailbox: "Lists", Flags: []string{store.FlagSeen}},
		{Account: carol.ID, Mailbox: "No such folder"},
	}})
	if err != nil || len(d) != 4 {
		t.Fatalf("deliver to four: %v, %v", d, err)
	}
	for i := 1; i < 4; i++ {
		mustDeliver(t, b, bob.ID, msg(i))
	}
	check("a delivery to several recipients")

	bobIn, aliceIn := mustMailbox(t, b, bob.ID, "INBOX"), mustMailbox(t, b, alice.ID, "INBOX")
	lists := mustMailbox(t, b, bob.ID, "Lists")
	if _, err := b.Append(bg, bobIn.ID, msg(10), []string{store.FlagDraft}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendMany(bg, aliceIn.ID, []store.AppendItem{{Body: msg(11)}, {Body: msg(12)}, {Body: msg(13)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendWithinQuota(bg, lists.ID, []store.AppendItem{{Body: msg(14)}}); err != nil {
		t.Fatal(err)
	}
	check("APPENDs")

	all := func(m store.MailboxID) []store.UID {
		t.Helper()
		l, err := b.List(m)
		if err != nil {
			t.Fatal(err)
		}
		return uids(l)
	}
	if _, err := b.Copy(bg, bobIn.ID, all(bobIn.ID), lists.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Copy(bg, lists.ID, all(lists.ID)[:2], lists.ID); err != nil {
		t.Fatal(err)
	}
	check("COPY")

	kept, err := b.CreateMailbox(bg, bob.ID, "Kept", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Move(bg, lists.ID, all(lists.ID)[:3], kept.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Move(bg, kept.ID, all(kept.ID)[:1], kept.ID); err != nil {
		t.Fatal(err)
	}
	check("MOVE")

	if _, err := b.StoreFlags(bg, lists.ID, all(lists.ID)[:2], store.FlagsAdd, []string{store.FlagDeleted, "$Label"}); err != nil {
		t.Fatal(err)
	}
	check("flag changes")
	if _, err := b.ExpungeDeleted(bg, lists.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Expunge(bg, bobIn.ID, all(bobIn.ID)[1:3]); err != nil {
		t.Fatal(err)
	}
	check("EXPUNGE")

	if err := b.RenameMailbox(bg, bob.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if err := b.RenameMailbox(bg, bob.ID, "Kept", "Kept2"); err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, b, bob.ID, msg(20))
	check("RENAME")

	if err := b.DeleteMailbox(bg, bob.ID, "Lists"); err != nil {
		t.Fatal(err)
	}
	check("DELETE of a mailbox")

	if f.Reopen != nil {
		b = f.Reopen(t, b)
		check("a restart")
	}

	if err := b.DeleteAccount(bg, "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Quota(carol.ID); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("Quota of a deleted account: %v, want ErrNoAccount", err)
	}
	accts = accts[:2]
	check("deleting another account")
}

// testQuotaConcurrentAppends: APPENDs to one account racing on two nodes
// never pass a limit together: exactly as many as fit are stored, the
// others get ErrOverQuota.
func testQuotaConcurrentAppends(t *testing.T, f Factory) {
	b := f.New(t)
	other := peer(t, f, b)
	a := mustAccount(t, b, "bob@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	arch, err := b.CreateMailbox(bg, a.ID, "Archive2", "")
	if err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, b, a.ID, msg(0))
	const fit = 5
	if err := b.SetQuota(bg, "bob@example.org", 0, 1+fit); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, refused := 0, 0
	for i := range 16 {
		wg.Go(func() {
			s, mbx := b, in.ID
			if i%2 == 1 {
				s, mbx = other, arch.ID
			}
			_, err := s.AppendWithinQuota(bg, mbx, []store.AppendItem{{Body: msg(i + 1)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.Is(err, store.ErrOverQuota):
				refused++
			default:
				t.Errorf("append %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if q, err := b.Quota(a.ID); stored != fit || refused != 16-fit || err != nil || q.Messages != 1+fit {
		t.Errorf("%d stored, %d refused, Quota %+v, %v; want %d stored, the account at its limit", stored, refused, q, err, fit)
	}
}
