package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/store"
)

// Run checks that the backends f makes keep the store's contract (the
// store package's doc): the same tests for every backend. With names, only
// the tests of those names run.
func Run(t *testing.T, f Factory, names ...string) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"Accounts", testAccounts},
		{"Authenticate", testAuthenticate},
		{"Mailboxes", testMailboxes},
		{"UIDValidityPerCreation", testUIDValidity},
		{"Deliver", testDeliver},
		{"UIDsNeverReused", testUIDsNeverReused},
		{"Flags", testFlags},
		{"Expunge", testExpunge},
		{"CopyMove", testCopyMove},
		{"ReadRange", testReadRange},
		{"Structure", testStructure},
		{"Aliases", testAliases},
		{"ConcurrentWriters", testConcurrentWriters},
		{"WatchExact", testWatchExact},
		{"WatchOtherNode", testWatchOtherNode},
		{"Restart", testRestart},
		{"MixedWriters", testMixedWriters},
		{"Origin", testOrigin},
		{"StoreFlagsIf", testStoreFlagsIf},
		{"Vanished", testVanished},
		{"Subscriptions", testSubscriptions},
		{"Metadata", testMetadata},
		{"Page", testPage},
		{"AppendMany", testAppendMany},
		{"Quota", testQuota},
		{"QuotaEveryWrite", testQuotaEveryWrite},
		{"QuotaConcurrentAppends", testQuotaConcurrentAppends},
		{"ChangedSince", testChangedSince},
		{"JunkJudge", testJunkJudge},
		{"AliasesOf", testAliasesOf},
		{"Lists", testLists},
		{"JunkTraining", testJunkTraining},
		{"JunkDelivery", testJunkDelivery},
		{"JunkTrainMany", testJunkTrainMany},
		{"JunkPrune", testJunkPrune},
		{"JunkConcurrent", testJunkConcurrent},
		{"ExtrasOtherNode", testExtrasOtherNode},
		{"Reindex", testReindex},
	}
	for _, tc := range tests {
		if len(names) > 0 && !slices.Contains(names, tc.name) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

var bg = context.Background()

func peer(t testing.TB, f Factory, b Backend) Backend {
	if f.Peer == nil {
		return b
	}
	return f.Peer(t, b)
}

func mustAccount(t testing.TB, b Backend, addr string) *store.Account {
	t.Helper()
	a, err := b.CreateAccount(bg, addr, "secret")
	if err != nil {
		t.Fatalf("create account %s: %v", addr, err)
	}
	return a
}

func mustMailbox(t testing.TB, b Backend, acct uint64, name string) *store.Mailbox {
	t.Helper()
	m, err := b.MailboxByName(acct, name)
	if err != nil {
		t.Fatalf("mailbox %s: %v", name, err)
	}
	return m
}

func msg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n", i, i)
}

func mustDeliver(t testing.TB, b Backend, acct uint64, body []byte) store.Delivered {
	t.Helper()
	d, err := b.Deliver(bg, &store.Delivery{Body: body, Targets: []store.Target{{Account: acct}}})
	if err != nil || len(d) != 1 {
		t.Fatalf("deliver: %v, %v", d, err)
	}
	return d[0]
}

func uids(ms []store.Message) []store.UID {
	out := make([]store.UID, len(ms))
	for i, m := range ms {
		out[i] = m.UID
	}
	return out
}

func testAccounts(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "Bob@Example.org")
	if a.Address != "bob@example.org" || a.ID == 0 {
		t.Fatalf("account = %+v", a)
	}
	if _, err := b.CreateAccount(bg, "bob@example.org", "x"); !errors.Is(err, store.ErrAccountExists) {
		t.Fatalf("second create: %v, want ErrAccountExists", err)
	}
	if _, err := b.CreateAccount(bg, "not an address", "x"); err == nil {
		t.Fatal("bad address accepted")
	}
	mustAccount(t, b, "alice@example.org")
	all, err := b.Accounts()
	if err != nil || len(all) != 2 || all[0].Address != "alice@example.org" || all[1].Address != "bob@example.org" {
		t.Fatalf("Accounts = %+v, %v", all, err)
	}
	byID, err := b.AccountByID(a.ID)
	if err != nil || byID.Address != a.Address {
		t.Fatalf("AccountByID = %+v, %v", byID, err)
	}
	if _, err := b.AccountByAddress("nobody@example.org"); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("unknown account: %v", err)
	}
	mbs, err := b.Mailboxes(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	for _, d := range store.DefaultMailboxes {
		if !slices.Contains(names, d.Name) {
			t.Errorf("default mailbox %s missing from %v", d.Name, names)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Mailboxes not ordered by name: %v", names)
	}
	if err := b.DeleteAccount(bg, a.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AccountByAddress(a.Address); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("deleted account: %v", err)
	}
	if err := b.DeleteAccount(bg, a.Address); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("delete twice: %v", err)
	}
}

func testAuthenticate(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	for _, tc := range []struct {
		addr, pass string
		ok         bool
	}{
		{"bob@example.org", "secret", true},
		{"BOB@example.org", "secret", true},
		{"bob@example.org", "Secret", false},
		{"bob@example.org", "", false},
		{"eve@example.org", "secret", false},
		{"garbage", "secret", false},
	} {
		got, err := b.Authenticate(tc.addr, tc.pass)
		if tc.ok && (err != nil || got.ID != a.ID) {
			t.Errorf("Authenticate(%q, %q) = %v, %v; want account %d", tc.addr, tc.pass, got, err, a.ID)
		}
		if !tc.ok && !errors.Is(err, store.ErrAuthFailed) {
			t.Errorf("Authenticate(%q, %q) = %v, %v; want ErrAuthFailed", tc.addr, tc.pass, got, err)
		}
	}
	if err := b.SetPassword(bg, "bob@example.org", "new one"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate("bob@example.org", "secret"); !errors.Is(err, store.ErrAuthFailed) {
		t.Errorf("old password after SetPassword: %v", err)
	}
	if _, err := b.Authenticate("bob@example.org", "new one"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := b.SetPassword(bg, "eve@example.org", "x"); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("SetPassword of no account: %v", err)
	}
}

func testMailboxes(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	m, err := b.CreateMailbox(bg, a.ID, "Work/Projects/Petrel", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Work", "Work/Projects"} {
		mustMailbox(t, b, a.ID, n)
	}
	if _, err := b.CreateMailbox(bg, a.ID, "Work/Projects/Petrel", ""); !errors.Is(err, store.ErrMailboxExists) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := b.CreateMailbox(bg, a.ID, "bad/", ""); !errors.Is(err, store.ErrBadName) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := b.CreateMailbox(bg, a.ID+1000, "X", ""); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("no account: %v", err)
	}
	if got := mustMailbox(t, b, a.ID, "inbox"); got.Name != "INBOX" {
		t.Fatalf("inbox = %+v", got)
	}
	d := mustDeliver(t, b, a.ID, msg(1))
	if _, err := b.Copy(bg, d.Mailbox, []store.UID{d.UID}, m.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.RenameMailbox(bg, a.ID, "Work", "Job"); err != nil {
		t.Fatal(err)
	}
	r := mustMailbox(t, b, a.ID, "Job/Projects/Petrel")
	if r.ID != m.ID || r.UIDValidity != m.UIDValidity {
		t.Fatalf("renamed child lost its identity: %+v, was %+v", r, m)
	}
	if ms, err := b.List(r.ID); err != nil || len(ms) != 1 {
		t.Fatalf("renamed mailbox's messages: %v, %v", ms, err)
	}
	if _, err := b.MailboxByName(a.ID, "Work/Projects"); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("old name still there: %v", err)
	}
	if err := b.RenameMailbox(bg, a.ID, "Job", "Job/Sub"); !errors.Is(err, store.ErrBadName) {
		t.Fatalf("rename into itself: %v", err)
	}
	if err := b.RenameMailbox(bg, a.ID, "Job", "Sent"); !errors.Is(err, store.ErrMailboxExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := b.DeleteMailbox(bg, a.ID, "INBOX"); !errors.Is(err, store.ErrInboxProtected) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := b.DeleteMailbox(bg, a.ID, "Job/Projects/Petrel"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MailboxByID(m.ID); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("deleted mailbox by ID: %v", err)
	}
	if err := b.DeleteMailbox(bg, a.ID, "Nope"); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("delete missing: %v", err)
	}
	if err := b.SetSubscribed(bg, a.ID, "Sent", false); err != nil {
		t.Fatal(err)
	}
	if mustMailbox(t, b, a.ID, "Sent").Subscribed {
		t.Fatal("still subscribed")
	}
	// Renaming INBOX moves its messages and leaves it empty.
	if err := b.RenameMailbox(bg, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if in := mustMailbox(t, b, a.ID, "INBOX"); in.Messages != 0 {
		t.Fatalf("INBOX after rename: %+v", in)
	}
	if old := mustMailbox(t, b, a.ID, "Old"); old.Messages != 1 {
		t.Fatalf("renamed INBOX: %+v", old)
	}
}

func testUIDValidity(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	seen := map[uint32]bool{}
	var ids []store.MailboxID
	for i := range 3 {
		m, err := b.CreateMailbox(bg, a.ID, "Again", "")
		if err != nil {
			t.Fatal(err)
		}
		if seen[m.UIDValidity] || slices.Contains(ids, m.ID) {
			t.Fatalf("creation %d reused UIDVALIDITY %d or ID %d", i, m.UIDValidity, m.ID)
		}
		seen[m.UIDValidity] = true
		ids = append(ids, m.ID)
		if m.UIDNext != 1 {
			t.Fatalf("UIDNext of a new mailbox = %d", m.UIDNext)
		}
		if err := b.DeleteMailbox(bg, a.ID, "Again"); err != nil {
			t.Fatal(err)
		}
	}
}

func testDeliver(t *testing.T, f Factory) {
	b := f.New(t)
	bob := mustAccount(t, b, "bob@example.org")
	al := mustAccount(t, b, "alice@example.org")
	body := msg(1)
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out, err := b.Deliver(bg, &store.Delivery{Body: body, Date: date, Targets: []store.Target{
		{Account: bob.ID, Prefix: []byte("Delivered-To: bob@example.org\r\n")},
		{Account: al.ID, Mailbox: "Archive", Flags: []string{`\seen`, "$Junk", `\Recent`}},
		{Account: al.ID, Mailbox: "No such"},
	}})
	if err != nil || len(out) != 3 {
		t.Fatalf("deliver: %v, %v", out, err)
	}
	if out[2].Mailbox != mustMailbox(t, b, al.ID, "INBOX").ID {
		t.Errorf("missing mailbox did not mean INBOX: %+v", out[2])
	}
	got, err := b.ReadMessage(out[0].Mailbox, out[0].UID)
	if want := append([]byte("Delivered-To: bob@example.org\r\n"), body...); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("bob's copy = %q, %v", got, err)
	}
	got, err = b.ReadMessage(out[1].Mailbox, out[1].UID)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("alice's copy = %q, %v", got, err)
	}
	ms, err := b.Messages(out[1].Mailbox, []store.UID{out[1].UID, 99})
	if err != nil || len(ms) != 1 {
		t.Fatalf("Messages = %v, %v", ms, err)
	}
	if m := ms[0]; !slices.Equal(m.Flags, []string{"$Junk", store.FlagSeen}) || !m.InternalDate.Equal(date) || m.Size != int64(len(body)) || m.ModSeq == 0 {
		t.Fatalf("message = %+v", m)
	}
	arch := mustMailbox(t, b, al.ID, "Archive")
	if arch.Messages != 1 || arch.Unseen != 0 || arch.Size != int64(len(body)) || arch.UIDNext != out[1].UID+1 || arch.UIDValidity != out[1].UIDValidity {
		t.Fatalf("archive counts = %+v", arch)
	}
	in := mustMailbox(t, b, bob.ID, "INBOX")
	if in.Messages != 1 || in.Unseen != 1 {
		t.Fatalf("bob's INBOX counts = %+v", in)
	}
	if _, err := b.Deliver(bg, &store.Delivery{Body: body, Targets: []store.Target{{Account: bob.ID + al.ID + 100}}}); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("deliver to no account: %v", err)
	}
	if in2 := mustMailbox(t, b, bob.ID, "INBOX"); in2.Messages != 1 {
		t.Fatal("failed delivery left a message")
	}
	ap, err := b.Append(bg, in.ID, msg(2), []string{store.FlagDraft}, time.Time{})
	if err != nil || ap.UID != out[0].UID+1 {
		t.Fatalf("append = %+v, %v", ap, err)
	}
	list, err := b.List(in.ID)
	if err != nil || !slices.Equal(uids(list), []store.UID{out[0].UID, ap.UID}) {
		t.Fatalf("List = %v, %v", list, err)
	}
	if _, err := b.List(in.ID + 1000); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("List of no mailbox: %v", err)
	}
	if _, err := b.ReadMessage(in.ID, 999); !errors.Is(err, store.ErrNoMessage) {
		t.Fatalf("read missing message: %v", err)
	}
}

func testUIDsNeverReused(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	var last store.Delivered
	for i := range 3 {
		last = mustDeliver(t, b, a.ID, msg(i))
	}
	if _, err := b.Expunge(bg, last.Mailbox, []store.UID{last.UID}); err != nil {
		t.Fatal(err)
	}
	next := mustDeliver(t, b, a.ID, msg(9))
	if next.UID <= last.UID {
		t.Fatalf("UID %d reused after expunging %d", next.UID, last.UID)
	}
}

func testFlags(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	d1 := mustDeliver(t, b, a.ID, msg(1))
	d2 := mustDeliver(t, b, a.ID, msg(2))
	mbx := d1.Mailbox
	before := mustMailbox(t, b, a.ID, "INBOX")
	ms, err := b.StoreFlags(bg, mbx, []store.UID{d1.UID, d2.UID, 77}, store.FlagsAdd, []string{`\SEEN`, "work"})
	if err != nil || len(ms) != 2 {
		t.Fatalf("add: %v, %v", ms, err)
	}
	for _, m := range ms {
		if !slices.Equal(m.Flags, []string{store.FlagSeen, "work"}) || m.ModSeq <= before.ModSeq {
			t.Fatalf("after add: %+v (mailbox modseq was %d)", m, before.ModSeq)
		}
	}
	after := mustMailbox(t, b, a.ID, "INBOX")
	if after.Unseen != 0 || after.ModSeq <= before.ModSeq {
		t.Fatalf("mailbox after add: %+v", after)
	}
	// No change: no new MODSEQ.
	if _, err := b.StoreFlags(bg, mbx, []store.UID{d1.UID}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	if m := mustMailbox(t, b, a.ID, "INBOX"); m.ModSeq != after.ModSeq {
		t.Fatalf("a store that changed nothing moved MODSEQ %d -> %d", after.ModSeq, m.ModSeq)
	}
	ms, err = b.StoreFlags(bg, mbx, []store.UID{d1.UID}, store.FlagsRemove, []string{`\Seen`})
	if err != nil || !slices.Equal(ms[0].Flags, []string{"work"}) || ms[0].ModSeq <= after.ModSeq {
		t.Fatalf("remove: %+v, %v", ms, err)
	}
	ms, err = b.StoreFlags(bg, mbx, []store.UID{d2.UID}, store.FlagsReplace, []string{store.FlagDeleted})
	if err != nil || !slices.Equal(ms[0].Flags, []string{store.FlagDeleted}) {
		t.Fatalf("replace: %+v, %v", ms, err)
	}
	m := mustMailbox(t, b, a.ID, "INBOX")
	if m.Unseen != 2 || m.Deleted != 1 {
		t.Fatalf("counts after replace: %+v", m)
	}
}

func testExpunge(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	var ds []store.Delivered
	for i := range 4 {
		ds = append(ds, mustDeliver(t, b, a.ID, msg(i)))
	}
	mbx := ds[0].Mailbox
	b.StoreFlags(bg, mbx, []store.UID{ds[0].UID, ds[1].UID, ds[2].UID}, store.FlagsAdd, []string{store.FlagDeleted})
	gone, err := b.ExpungeDeleted(bg, mbx, []store.UID{ds[1].UID, ds[3].UID})
	if err != nil || !slices.Equal(gone, []store.UID{ds[1].UID}) {
		t.Fatalf("UID EXPUNGE = %v, %v", gone, err)
	}
	gone, err = b.ExpungeDeleted(bg, mbx, nil)
	if err != nil || !slices.Equal(gone, []store.UID{ds[0].UID, ds[2].UID}) {
		t.Fatalf("EXPUNGE = %v, %v", gone, err)
	}
	gone, err = b.Expunge(bg, mbx, []store.UID{ds[3].UID, ds[3].UID, 99})
	if err != nil || !slices.Equal(gone, []store.UID{ds[3].UID}) {
		t.Fatalf("Expunge = %v, %v", gone, err)
	}
	m := mustMailbox(t, b, a.ID, "INBOX")
	if m.Messages != 0 || m.Size != 0 || m.Unseen != 0 || m.Deleted != 0 {
		t.Fatalf("counts after expunging all: %+v", m)
	}
}

func testCopyMove(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	d1 := mustDeliver(t, b, a.ID, msg(1))
	d2 := mustDeliver(t, b, a.ID, msg(2))
	b.StoreFlags(bg, d1.Mailbox, []store.UID{d1.UID}, store.FlagsAdd, []string{"kept"})
	arch := mustMailbox(t, b, a.ID, "Archive")
	res, err := b.Copy(bg, d1.Mailbox, []store.UID{d2.UID, d1.UID, 50}, arch.ID)
	if err != nil || res.UIDValidity != arch.UIDValidity || !slices.Equal(res.Source, []store.UID{d1.UID, d2.UID}) || len(res.Dest) != 2 {
		t.Fatalf("copy = %+v, %v", res, err)
	}
	ms, _ := b.Messages(arch.ID, res.Dest[:1])
	if len(ms) != 1 || !slices.Equal(ms[0].Flags, []string{"kept"}) {
		t.Fatalf("copy's flags: %+v", ms)
	}
	if got, _ := b.ReadMessage(arch.ID, res.Dest[1]); !bytes.Equal(got, msg(2)) {
		t.Fatalf("copy's bytes = %q", got)
	}
	trash := mustMailbox(t, b, a.ID, "Trash")
	res, err = b.Move(bg, d1.Mailbox, []store.UID{d1.UID}, trash.ID)
	if err != nil || len(res.Dest) != 1 {
		t.Fatalf("move = %+v, %v", res, err)
	}
	if left, _ := b.List(d1.Mailbox); !slices.Equal(uids(left), []store.UID{d2.UID}) {
		t.Fatalf("source after move: %v", left)
	}
	// The copy in Archive outlives the moved original's expunge.
	if _, err := b.Expunge(bg, trash.ID, res.Dest); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadMessage(arch.ID, 1); err != nil || !bytes.Equal(got, msg(1)) {
		t.Fatalf("shared bytes gone with one copy: %q, %v", got, err)
	}
	// A move within one mailbox (IMAP's MOVE into the selected mailbox, RFC
	// 6851) gives the message a new UID and expunges the old one.
	res, err = b.Move(bg, arch.ID, []store.UID{1}, arch.ID)
	if err != nil || len(res.Dest) != 1 || res.Dest[0] <= 1 {
		t.Fatalf("move within one mailbox = %+v, %v", res, err)
	}
	if left, _ := b.List(arch.ID); !slices.Equal(uids(left), []store.UID{2, res.Dest[0]}) {
		t.Fatalf("mailbox after a move within it: %v, want [2 %d]", uids(left), res.Dest[0])
	}
	if got, err := b.ReadMessage(arch.ID, res.Dest[0]); err != nil || !bytes.Equal(got, msg(1)) {
		t.Fatalf("moved within its mailbox: %q, %v", got, err)
	}
}

func testReadRange(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	prefix := []byte("Received: x\r\n")
	body := bytes.Repeat([]byte("0123456789"), 30000) // 300 kB
	out, err := b.Deliver(bg, &store.Delivery{Body: body, Targets: []store.Target{{Account: a.ID, Prefix: prefix}}})
	if err != nil {
		t.Fatal(err)
	}
	whole := append(slices.Clone(prefix), body...)
	n := int64(len(whole))
	for _, tc := range []struct{ off, n int64 }{
		{0, 5}, {10, 10}, {int64(len(prefix)) - 2, 4}, {150000, 7}, {n - 3, 10}, {n, 5}, {n + 10, 5}, {0, n}, {-5, 3}, {3, 0},
	} {
		got, err := b.ReadRange(out[0].Mailbox, out[0].UID, tc.off, tc.n)
		lo := min(max(tc.off, 0), n)
		hi := min(lo+max(tc.n, 0), n)
		if err != nil || !bytes.Equal(got, whole[lo:hi]) {
			t.Errorf("ReadRange(%d, %d) = %d bytes %.20q, %v; want %d bytes", tc.off, tc.n, len(got), got, err, hi-lo)
		}
	}
	if _, err := b.ReadRange(out[0].Mailbox, 999, 0, 1); !errors.Is(err, store.ErrNoMessage) {
		t.Errorf("range of missing message: %v", err)
	}
}

func testAliases(t *testing.T, f Factory) {
	b := f.New(t)
	bob := mustAccount(t, b, "bob@example.org")
	local := store.ResolveOptions{PlusSeparator: "+", IsLocal: func(d string) bool { return d == "example.org" }}
	res, err := b.SetAlias(bg, "team@example.org", []string{"bob@example.org", "carol@elsewhere.net"}, local)
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != bob.ID || !slices.Equal(res.Remote, []string{"carol@elsewhere.net"}) {
		t.Fatalf("SetAlias = %+v, %v", res, err)
	}
	if _, err := b.SetAlias(bg, "bob@example.org", []string{"team@example.org"}, local); !errors.Is(err, store.ErrAddressTaken) {
		t.Fatalf("alias over an account: %v", err)
	}
	if _, err := b.SetAlias(bg, "loop@example.org", []string{"loop2@example.org"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetAlias(bg, "loop2@example.org", []string{"loop@example.org"}, store.ResolveOptions{}); !errors.Is(err, store.ErrAliasLoop) {
		t.Fatalf("loop: %v", err)
	}
	if _, err := b.SetAlias(bg, "@example.org", []string{"bob@example.org"}, local); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want uint64 // account reached, 0 for none
	}{
		{"bob@example.org", bob.ID},
		{"bob+tag@example.org", bob.ID},
		{"team@example.org", bob.ID},
		{"anything@example.org", bob.ID}, // catch-all
	} {
		r, err := b.ResolveAddress(tc.addr, local)
		if err != nil || len(r.Accounts) != 1 || r.Accounts[0].ID != tc.want {
			t.Errorf("ResolveAddress(%s) = %+v, %v", tc.addr, r, err)
		}
	}
	if _, err := b.ResolveAddress("x@other.org", local); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("unknown address: %v", err)
	}
	all, err := b.Aliases()
	if err != nil || len(all) != 3 || all[0].Address != "@example.org" {
		t.Fatalf("Aliases = %+v, %v", all, err)
	}
	if err := b.DeleteAlias(bg, "team@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteAlias(bg, "team@example.org"); !errors.Is(err, store.ErrNoAlias) {
		t.Fatalf("delete twice: %v", err)
	}
}

// Many writers on several handles (nodes) at once: every delivery gets its
// own UID, none lost, and the counts add up.
func testConcurrentWriters(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	nodes := []Backend{b, peer(t, f, b), peer(t, f, b)}
	const writers, each = 8, 15
	var mu sync.Mutex
	got := map[store.UID]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			n := nodes[w%len(nodes)]
			for i := range each {
				d, err := n.Deliver(bg, &store.Delivery{Body: msg(w*1000 + i), Targets: []store.Target{{Account: a.ID}}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if got[d[0].UID] {
					errs <- fmt.Errorf("UID %d given twice", d[0].UID)
				}
				got[d[0].UID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m := mustMailbox(t, b, a.ID, "INBOX")
	if len(got) != writers*each || m.Messages != writers*each {
		t.Fatalf("%d deliveries, %d UIDs, mailbox has %d", writers*each, len(got), m.Messages)
	}
	list, _ := b.List(m.ID)
	if len(list) != writers*each {
		t.Fatalf("List has %d", len(list))
	}
}

// recorder keeps a watcher's events and wakes a waiter.
type recorder struct {
	mu     sync.Mutex
	events []store.Event
	wake   chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) add(ev store.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// waitModSeq waits until an event at or past modseq has come.
func (r *recorder) waitModSeq(t testing.TB, modseq uint64, limit time.Duration) []store.Event {
	t.Helper()
	deadline := time.After(limit)
	for {
		r.mu.Lock()
		evs := slices.Clone(r.events)
		r.mu.Unlock()
		if len(evs) > 0 && evs[len(evs)-1].ModSeq >= modseq {
			return evs
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("no event reached MODSEQ %d within %v; have %d events", modseq, limit, len(evs))
		}
	}
}

// A watch that begins while writers write: the snapshot and the events
// together are exactly the mailbox's messages, each once, events in
// increasing MODSEQ, none delivered before the caller has the snapshot.
func testWatchExact(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	w := peer(t, f, b)
	var wg sync.WaitGroup
	started := make(chan struct{})
	const total = 60
	wg.Go(func() {
		for i := range total {
			if i == total/3 {
				close(started)
			}
			mustDeliverErr(t, b, a.ID, msg(i))
		}
	})
	<-started
	rec := newRecorder()
	// The contract: fn is never called on Watch's goroutine, so a caller
	// may hold the lock fn takes while it calls Watch and installs the
	// snapshot, and every event finds the snapshot installed (no buffer of
	// the caller's own). lock is that lock, as a channel so that a call
	// made from within Watch fails the test instead of hanging it.
	lock := make(chan struct{}, 1)
	installed := false
	fn := func(ev store.Event) {
		select {
		case lock <- struct{}{}:
		case <-time.After(watchLimit):
			t.Errorf("event MODSEQ %d waited %v for the lock Watch's caller holds: fn called from within Watch", ev.ModSeq, watchLimit)
			rec.add(ev)
			return
		}
		if !installed {
			t.Errorf("event MODSEQ %d before the snapshot was installed", ev.ModSeq)
		}
		<-lock
		rec.add(ev)
	}
	lock <- struct{}{}
	snap, stop, err := w.Watch(in.ID, fn)
	if err != nil {
		t.Fatal(err)
	}
	installed = true
	<-lock
	defer stop()
	wg.Wait()
	// One more change, a flag, that must come after every delivery.
	ms, err := b.StoreFlags(bg, in.ID, []store.UID{1}, store.FlagsAdd, []string{store.FlagSeen})
	if err != nil || len(ms) != 1 {
		t.Fatal(err)
	}
	evs := rec.waitModSeq(t, ms[0].ModSeq, 10*time.Second)
	seen := map[store.UID]int{}
	for _, u := range snap.UIDs {
		seen[u]++
	}
	last := snap.Mailbox.ModSeq
	for _, ev := range evs {
		if ev.ModSeq <= last {
			t.Fatalf("event MODSEQ %d after %d (kind %d)", ev.ModSeq, last, ev.Kind)
		}
		last = ev.ModSeq
		if ev.Mailbox != in.ID {
			t.Fatalf("event of mailbox %d", ev.Mailbox)
		}
		if ev.Kind == store.EventAdded {
			for _, m := range ev.Messages {
				seen[m.UID]++
			}
		}
	}
	if evs[len(evs)-1].Kind != store.EventFlags || evs[len(evs)-1].Messages[0].UID != 1 {
		t.Fatalf("last event = %+v", evs[len(evs)-1])
	}
	if len(seen) != total {
		t.Fatalf("snapshot+events have %d messages, want %d", len(seen), total)
	}
	for u, n := range seen {
		if n != 1 {
			t.Fatalf("UID %d seen %d times", u, n)
		}
	}
}

func mustDeliverErr(t testing.TB, b Backend, acct uint64, body []byte) {
	if _, err := b.Deliver(bg, &store.Delivery{Body: body, Targets: []store.Target{{Account: acct}}}); err != nil {
		t.Errorf("deliver: %v", err)
	}
}

// watchLimit is how long a test waits for an event: the contract's target is
// well under a second, and the limit leaves room for a loaded CI machine.
const watchLimit = 5 * time.Second

// A watcher on another node sees a delivery, a flag change, an expunge and
// the mailbox's deletion, in that order.
func testWatchOtherNode(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	m, err := b.CreateMailbox(bg, a.ID, "Watched", "")
	if err != nil {
		t.Fatal(err)
	}
	other := peer(t, f, b)
	rec := newRecorder()
	snap, stop, err := other.Watch(m.ID, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if len(snap.UIDs) != 0 || snap.Mailbox.ID != m.ID {
		t.Fatalf("snapshot = %+v", snap)
	}
	d, err := b.Deliver(bg, &store.Delivery{Body: msg(1), Targets: []store.Target{{Account: a.ID, Mailbox: "Watched"}}})
	if err != nil {
		t.Fatal(err)
	}
	evs := rec.waitModSeq(t, 2, watchLimit)
	if ev := evs[0]; ev.Kind != store.EventAdded || len(ev.Messages) != 1 || ev.Messages[0].UID != d[0].UID {
		t.Fatalf("added event = %+v", ev)
	}
	ms, _ := b.StoreFlags(bg, m.ID, []store.UID{d[0].UID}, store.FlagsAdd, []string{store.FlagFlagged})
	evs = rec.waitModSeq(t, ms[0].ModSeq, watchLimit)
	if ev := evs[len(evs)-1]; ev.Kind != store.EventFlags || !slices.Equal(ev.Messages[0].Flags, []string{store.FlagFlagged}) {
		t.Fatalf("flags event = %+v", ev)
	}
	if _, err := b.Expunge(bg, m.ID, []store.UID{d[0].UID}); err != nil {
		t.Fatal(err)
	}
	cur := mustMailbox(t, b, a.ID, "Watched")
	evs = rec.waitModSeq(t, cur.ModSeq, watchLimit)
	if ev := evs[len(evs)-1]; ev.Kind != store.EventExpunged || !slices.Equal(ev.UIDs, []store.UID{d[0].UID}) {
		t.Fatalf("expunge event = %+v", ev)
	}
	if err := b.DeleteMailbox(bg, a.ID, "Watched"); err != nil {
		t.Fatal(err)
	}
	evs = rec.waitModSeq(t, cur.ModSeq+1, watchLimit)
	if ev := evs[len(evs)-1]; ev.Kind != store.EventMailboxDeleted {
		t.Fatalf("delete event = %+v", ev)
	}
}

// What a method returned nil for is there after a restart, and UIDs,
// MODSEQs, UIDVALIDITY and IDs go on from where they were, never back.
func testRestart(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	var last store.Delivered
	for i := range 5 {
		last = mustDeliver(t, b, a.ID, msg(i))
	}
	if _, err := b.Expunge(bg, last.Mailbox, []store.UID{last.UID}); err != nil {
		t.Fatal(err)
	}
	ms, err := b.StoreFlags(bg, last.Mailbox, []store.UID{1}, store.FlagsAdd, []string{"kept"})
	if err != nil {
		t.Fatal(err)
	}
	made, err := b.CreateMailbox(bg, a.ID, "Gone", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteMailbox(bg, a.ID, "Gone"); err != nil {
		t.Fatal(err)
	}
	before := mustMailbox(t, b, a.ID, "INBOX")
	b = f.Reopen(t, b)
	after := mustMailbox(t, b, a.ID, "INBOX")
	if after.UIDNext != before.UIDNext || after.ModSeq != before.ModSeq || after.UIDValidity != before.UIDValidity || after.Messages != 4 {
		t.Fatalf("INBOX after a restart: %+v, before %+v", after, before)
	}
	got, err := b.Messages(last.Mailbox, []store.UID{1})
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Flags, []string{"kept"}) || got[0].ModSeq != ms[0].ModSeq {
		t.Fatalf("flags after a restart: %+v, %v", got, err)
	}
	if body, err := b.ReadMessage(last.Mailbox, 2); err != nil || !bytes.Equal(body, msg(1)) {
		t.Fatalf("message after a restart: %q, %v", body, err)
	}
	if _, err := b.Authenticate("bob@example.org", "secret"); err != nil {
		t.Fatalf("login after a restart: %v", err)
	}
	next := mustDeliver(t, b, a.ID, msg(9))
	if next.UID != before.UIDNext {
		t.Fatalf("UID after a restart %d, want %d", next.UID, before.UIDNext)
	}
	again, err := b.CreateMailbox(bg, a.ID, "Gone", "")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == made.ID || again.UIDValidity == made.UIDValidity {
		t.Fatalf("mailbox made again after a restart reused ID %d or UIDVALIDITY %d", made.ID, made.UIDValidity)
	}
}

// Writers on several nodes deliver to shared and single mailboxes, copy,
// move, flag and expunge at once: no write fails, and afterwards every
// mailbox's counts are those of its messages, and every message reads.
func testMixedWriters(t *testing.T, f Factory) {
	b := f.New(t)
	bob := mustAccount(t, b, "bob@example.org")
	al := mustAccount(t, b, "alice@example.org")
	in := mustMailbox(t, b, bob.ID, "INBOX")
	arch := mustMailbox(t, b, bob.ID, "Archive")
	ain := mustMailbox(t, b, al.ID, "INBOX")
	nodes := []Backend{b, peer(t, f, b), peer(t, f, b)}
	const writers, ops = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*ops)
	for w := range writers {
		wg.Go(func() {
			n := nodes[w%len(nodes)]
			for i := range ops {
				var err error
				switch (w + i) % 6 {
				case 0, 1:
					_, err = n.Deliver(bg, &store.Delivery{Body: msg(w*100 + i), Targets: []store.Target{
						{Account: bob.ID}, {Account: al.ID}, {Account: bob.ID, Mailbox: "Archive"}}})
				case 2:
					_, err = n.Copy(bg, in.ID, []store.UID{store.UID(i), store.UID(i + 1)}, arch.ID)
				case 3:
					_, err = n.Move(bg, arch.ID, []store.UID{store.UID(i), store.UID(2 * i)}, in.ID)
				case 4:
					_, err = n.StoreFlags(bg, in.ID, []store.UID{store.UID(i), store.UID(i + 2)}, store.FlagsAdd, []string{store.FlagDeleted, store.FlagSeen})
				case 5:
					_, err = n.ExpungeDeleted(bg, in.ID, nil)
					if err == nil {
						_, err = n.Expunge(bg, ain.ID, []store.UID{store.UID(i)})
					}
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d op %d: %w", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range []store.MailboxID{in.ID, arch.ID, ain.ID} {
		m, err := b.MailboxByID(id)
		if err != nil {
			t.Fatal(err)
		}
		list, err := b.List(id)
		if err != nil {
			t.Fatal(err)
		}
		var size int64
		var unseen, deleted uint32
		for _, msg := range list {
			size += msg.Size
			if !msg.Has(store.FlagSeen) {
				unseen++
			}
			if msg.Has(store.FlagDeleted) {
				deleted++
			}
			if msg.UID >= m.UIDNext || msg.ModSeq > m.ModSeq {
				t.Fatalf("mailbox %s: message %+v beyond UIDNEXT %d or MODSEQ %d", m.Name, msg, m.UIDNext, m.ModSeq)
			}
			if _, err := b.ReadRange(id, msg.UID, 0, 10); err != nil {
				t.Fatalf("mailbox %s UID %d: %v", m.Name, msg.UID, err)
			}
		}
		if int(m.Messages) != len(list) || m.Size != size || m.Unseen != unseen || m.Deleted != deleted {
			t.Fatalf("mailbox %s counts %d msgs %d bytes %d unseen %d deleted; its messages: %d, %d, %d, %d",
				m.Name, m.Messages, m.Size, m.Unseen, m.Deleted, len(list), size, unseen, deleted)
		}
	}
}

// The MIME structure comes with the content, its offsets counting the
// copy's prefix, from every read that gives one.
func testStructure(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	body := []byte("From: Alice <alice@example.org>\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=xx\r\n\r\n--xx\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" +
		"--xx\r\nContent-Type: text/html\r\n\r\n<p>second</p>\r\n--xx--\r\n")
	prefix := []byte("Received: by test\r\n")
	out, err := b.Deliver(bg, &store.Delivery{Body: body, Targets: []store.Target{{Account: a.ID, Prefix: prefix}}})
	if err != nil {
		t.Fatal(err)
	}
	mbx, uid := out[0].Mailbox, out[0].UID
	whole := append(slices.Clone(prefix), body...)
	check := func(how string, c *store.Content, p *store.Part) {
		t.Helper()
		if got := c.Slice(0, c.Size()); !bytes.Equal(got, whole) {
			t.Fatalf("%s: content %q", how, got)
		}
		if p == nil || p.Type != "multipart" || len(p.Parts) != 2 || p.Envelope == nil || p.Envelope.Subject != "parts" {
			t.Fatalf("%s: structure %+v", how, p)
		}
		for i, want := range []string{"first", "<p>second</p>"} {
			part := p.Parts[i]
			if got := string(whole[part.BodyStart:part.End]); !strings.HasPrefix(got, want) {
				t.Fatalf("%s: part %d body %q, want %q", how, i+1, got, want)
			}
		}
	}
	if err := b.ReadContent(mbx, uid, func(c *store.Content, p *store.Part) error { check("ReadContent", c, p); return nil }); err != nil {
		t.Fatal(err)
	}
	p, err := b.Structure(mbx, uid)
	if err != nil {
		t.Fatal(err)
	}
	check("Structure", &store.Content{Body: whole}, p)
	calls := 0
	err = b.ReadContents(mbx, []store.UID{99, uid}, func(u store.UID, c *store.Content, p *store.Part) error {
		calls++
		check("ReadContents", c, p)
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("ReadContents: %d calls, %v", calls, err)
	}
	err = b.ReadHeaders(mbx, []store.UID{uid}, func(u store.UID, c *store.Content, start int64) error {
		if want := int64(bytes.Index(whole, []byte("\r\n\r\n")) + 4); start != want {
			t.Fatalf("ReadHeaders: body starts at %d, want %d", start, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReadRaw(mbx, uid, func(c *store.Content) error {
		if c.Size() != int64(len(whole)) {
			t.Fatalf("ReadRaw: %d bytes, want %d", c.Size(), len(whole))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.ReadContent(mbx, 99, func(*store.Content, *store.Part) error { return nil }); !errors.Is(err, store.ErrNoMessage) {
		t.Fatalf("ReadContent of no message: %v", err)
	}
	// FETCH ENVELOPE's read: the tree's envelope, missing UIDs skipped.
	calls = 0
	err = b.ReadEnvelopes(mbx, []store.UID{99, uid}, func(u store.UID, env *store.Envelope) error {
		calls++
		if u != uid || env == nil || env.Subject != "parts" || len(env.From) != 1 || env.From[0].Mailbox != "alice" || env.From[0].Host != "example.org" {
			t.Fatalf("ReadEnvelopes: %d %+v", u, env)
		}
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("ReadEnvelopes: %d calls, %v", calls, err)
	}
	// MessagesInto: Messages in the caller's array, whatever it held.
	buf := []store.Message{{UID: 12345, Flags: []string{"$Stale"}}, {UID: 6789}}
	msgs, err := b.MessagesInto(buf, mbx, []store.UID{99, uid})
	if err != nil || len(msgs) != 1 || msgs[0].UID != uid || len(msgs[0].Flags) != 0 || msgs[0].Size != int64(len(whole)) {
		t.Fatalf("MessagesInto: %+v, %v", msgs, err)
	}
}

// A write made with store.WithOrigin reaches the watchers of the same
// handle with that Origin (a session's own STORE is not echoed to it); one
// made without, with none.
func testOrigin(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	d := mustDeliver(t, b, a.ID, msg(1))
	rec := newRecorder()
	_, stop, err := b.Watch(d.Mailbox, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	type session struct{ name string }
	me := &session{"me"}
	ms, err := b.StoreFlags(store.WithOrigin(bg, me), d.Mailbox, []store.UID{d.UID}, store.FlagsAdd, []string{store.FlagSeen})
	if err != nil {
		t.Fatal(err)
	}
	evs := rec.waitModSeq(t, ms[0].ModSeq, watchLimit)
	if ev := evs[len(evs)-1]; ev.Origin != me {
		t.Fatalf("event of a write with an origin: Origin %v", ev.Origin)
	}
	ms, err = b.StoreFlags(bg, d.Mailbox, []store.UID{d.UID}, store.FlagsAdd, []string{store.FlagFlagged})
	if err != nil {
		t.Fatal(err)
	}
	evs = rec.waitModSeq(t, ms[0].ModSeq, watchLimit)
	if ev := evs[len(evs)-1]; ev.Origin != nil {
		t.Fatalf("event of a write without an origin: Origin %v", ev.Origin)
	}
}
