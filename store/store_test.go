package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

var ctx = context.Background()

func deliver(t testing.TB, s *store.Store, acct *store.Account, body string) store.Delivered {
	t.Helper()
	d, err := s.Deliver(ctx, &store.Delivery{Body: []byte(body), Targets: []store.Target{{Account: acct.ID}}})
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	return d[0]
}

func TestAccounts(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "Bob@Example.COM")
	if a.Address != "bob@example.com" {
		t.Errorf("address = %q, want lower-cased", a.Address)
	}
	if _, err := s.CreateAccount(ctx, "bob@example.com", "x"); !errors.Is(err, store.ErrAccountExists) {
		t.Errorf("duplicate account: err = %v", err)
	}
	for _, bad := range []string{"", "bob", "@x", "bob@", "a b@c", "<a@b>"} {
		if _, err := s.CreateAccount(ctx, bad, "x"); err == nil {
			t.Errorf("CreateAccount(%q) succeeded", bad)
		}
	}
	if _, err := s.Authenticate("BOB@example.com", "secret"); err != nil {
		t.Errorf("authenticate: %v", err)
	}
	if _, err := s.Authenticate("bob@example.com", "wrong"); !errors.Is(err, store.ErrAuthFailed) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := s.Authenticate("nobody@example.com", "secret"); !errors.Is(err, store.ErrAuthFailed) {
		t.Errorf("unknown user: %v", err)
	}
	if err := s.SetPassword(ctx, "bob@example.com", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("bob@example.com", "secret"); err == nil {
		t.Errorf("old password still accepted after change")
	}
	if _, err := s.Authenticate("bob@example.com", "new"); err != nil {
		t.Errorf("new password: %v", err)
	}
	mbs, err := s.Mailboxes(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name+m.SpecialUse)
	}
	want := []string{`Archive\Archive`, `Drafts\Drafts`, "INBOX", `Junk\Junk`, `Sent\Sent`, `Trash\Trash`}
	if !slices.Equal(names, want) {
		t.Errorf("mailboxes = %v, want %v", names, want)
	}
	deliver(t, s, a, "Subject: x\r\n\r\nhi\r\n")
	if err := s.DeleteAccount(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountByAddress("bob@example.com"); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("deleted account still found: %v", err)
	}
	if accts, _ := s.Accounts(); len(accts) != 0 {
		t.Errorf("accounts after delete: %v", accts)
	}
}

func TestUIDsNeverReused(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	d1 := deliver(t, s, a, "a\r\n")
	d2 := deliver(t, s, a, "b\r\n")
	if d1.UID != 1 || d2.UID != 2 || d1.UIDValidity != in.UIDValidity {
		t.Fatalf("uids %v %v", d1, d2)
	}
	if _, err := s.Expunge(ctx, in.ID, []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	d3 := deliver(t, s, a, "c\r\n")
	if d3.UID != 3 {
		t.Errorf("UID after expunge of the last message = %d, want 3", d3.UID)
	}
	m, _ := s.MailboxByID(in.ID)
	if m.UIDNext != 4 || m.Messages != 2 || m.Unseen != 2 {
		t.Errorf("mailbox state %+v", m)
	}
	// A mailbox made again under the same name gets a new UIDVALIDITY.
	x, err := s.CreateMailbox(ctx, a.ID, "Lists", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Lists"); err != nil {
		t.Fatal(err)
	}
	y, err := s.CreateMailbox(ctx, a.ID, "Lists", "")
	if err != nil {
		t.Fatal(err)
	}
	if x.UIDValidity == y.UIDValidity || x.ID == y.ID {
		t.Errorf("recreated mailbox reuses UIDVALIDITY %d / ID %d", y.UIDValidity, y.ID)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.CreateAccount(ctx, "bob@example.com", "pw")
	d, _ := s.Deliver(ctx, &store.Delivery{Body: []byte("Subject: hi\r\n\r\nbody\r\n"), Targets: []store.Target{{Account: a.ID, Prefix: []byte("Received: x\r\n")}}})
	in, _ := s.MailboxByName(a.ID, "INBOX")
	s.StoreFlags(ctx, in.ID, []store.UID{d[0].UID}, store.FlagsAdd, []string{`\seen`, "$Important"})
	if _, err := store.Open(path, store.Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("second open of a locked store: %v", err)
	}
	s.Close()
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs, err := s.List(in.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("list: %v %v", msgs, err)
	}
	if !slices.Equal(msgs[0].Flags, []string{"$Important", `\Seen`}) {
		t.Errorf("flags after restart = %v", msgs[0].Flags)
	}
	raw, _ := s.ReadMessage(in.ID, d[0].UID)
	if string(raw) != "Received: x\r\nSubject: hi\r\n\r\nbody\r\n" {
		t.Errorf("content = %q", raw)
	}
	if msgs[0].Size != int64(len(raw)) {
		t.Errorf("size %d, content %d", msgs[0].Size, len(raw))
	}
}

func TestFlags(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	for i := 0; i < 3; i++ {
		deliver(t, s, a, "x\r\n")
	}
	cases := []struct {
		name  string
		op    store.FlagOp
		flags []string
		want  []string
	}{
		{"add", store.FlagsAdd, []string{`\Seen`, `\flagged`}, []string{`\Flagged`, `\Seen`}},
		{"add keyword", store.FlagsAdd, []string{"work"}, []string{`\Flagged`, `\Seen`, "work"}},
		{"add again", store.FlagsAdd, []string{`\SEEN`}, []string{`\Flagged`, `\Seen`, "work"}},
		{"remove", store.FlagsRemove, []string{`\Flagged`, "WORK"}, []string{`\Seen`}},
		{"replace", store.FlagsReplace, []string{`\Deleted`, `\Recent`}, []string{`\Deleted`}},
		{"clear", store.FlagsReplace, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.StoreFlags(ctx, in.ID, []store.UID{1, 3, 99}, c.op, c.flags)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("got %d messages, want 2 (99 does not exist)", len(got))
			}
			for _, m := range got {
				if !slices.Equal(m.Flags, c.want) {
					t.Errorf("uid %d flags = %v, want %v", m.UID, m.Flags, c.want)
				}
			}
		})
	}
	s.StoreFlags(ctx, in.ID, []store.UID{1}, store.FlagsAdd, []string{`\Seen`})
	m, _ := s.MailboxByID(in.ID)
	if m.Unseen != 2 {
		t.Errorf("unseen = %d, want 2", m.Unseen)
	}
	s.StoreFlags(ctx, in.ID, []store.UID{1, 2}, store.FlagsAdd, []string{`\Deleted`})
	gone, err := s.ExpungeDeleted(ctx, in.ID, []store.UID{2, 3})
	if err != nil || !slices.Equal(gone, []store.UID{2}) {
		t.Errorf("UID EXPUNGE 2:3 removed %v (%v), want [2]", gone, err)
	}
	gone, _ = s.ExpungeDeleted(ctx, in.ID, nil)
	if !slices.Equal(gone, []store.UID{1}) {
		t.Errorf("EXPUNGE removed %v, want [1]", gone)
	}
}

func TestEvents(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	deliver(t, s, a, "one\r\n")
	var mu sync.Mutex
	var got []store.Event
	snap, stop, err := s.Watch(in.ID, func(ev store.Event) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !slices.Equal(snap.UIDs, []store.UID{1}) {
		t.Fatalf("snapshot %v", snap.UIDs)
	}
	deliver(t, s, a, "two\r\n")
	octx := store.WithOrigin(ctx, "session-1")
	s.StoreFlags(octx, in.ID, []store.UID{1}, store.FlagsAdd, []string{`\Seen`})
	s.Expunge(ctx, in.ID, []store.UID{1})
	trash, _ := s.MailboxByName(a.ID, "Trash")
	s.Move(ctx, in.ID, []store.UID{2}, trash.ID)
	mu.Lock()
	defer mu.Unlock()
	kinds := []store.EventKind{}
	for _, ev := range got {
		kinds = append(kinds, ev.Kind)
	}
	want := []store.EventKind{store.EventAdded, store.EventFlags, store.EventExpunged, store.EventExpunged}
	if !slices.Equal(kinds, want) {
		t.Fatalf("event kinds %v, want %v", kinds, want)
	}
	if got[0].Messages[0].UID != 2 || got[1].Origin != "session-1" || got[2].UIDs[0] != 1 || got[3].UIDs[0] != 2 {
		t.Errorf("events %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ModSeq <= got[i-1].ModSeq {
			t.Errorf("modseq not increasing: %d then %d", got[i-1].ModSeq, got[i].ModSeq)
		}
	}
}

// Concurrent writers, watched while they write: the snapshot plus the
// events must account for every message exactly once.
func TestWatchUnderLoad(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	var wg sync.WaitGroup
	begun := make(chan struct{}, 8) // a writer's first message is in
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			defer once.Do(func() { begun <- struct{}{} }) // if it failed first
			for i := 0; i < 25; i++ {
				deliver(t, s, a, "x\r\n")
				once.Do(func() { begun <- struct{}{} })
			}
		}()
	}
	// Watch once every writer has delivered and goes on with 24 more: the
	// snapshot holds some, the events (most likely) the others.
	for range 8 {
		select {
		case <-begun:
		case <-time.After(time.Minute):
			t.Fatal("the writers had not all delivered a message after a minute")
		}
	}
	var mu sync.Mutex
	seen := map[store.UID]int{}
	snap, stop, err := s.Watch(in.ID, func(ev store.Event) {
		mu.Lock()
		for _, m := range ev.Messages {
			seen[m.UID]++
		}
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, u := range snap.UIDs {
		seen[u]++
	}
	if len(seen) != 200 {
		t.Errorf("saw %d distinct messages, want 200", len(seen))
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("uid %d seen %d times", u, n)
		}
	}
}

func TestCopyMoveShareBytes(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	arch, _ := s.MailboxByName(a.ID, "Archive")
	deliver(t, s, a, "one\r\n")
	deliver(t, s, a, "two\r\n")
	s.StoreFlags(ctx, in.ID, []store.UID{2}, store.FlagsAdd, []string{`\Flagged`})
	res, err := s.Copy(ctx, in.ID, []store.UID{2, 1, 7}, arch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Source, []store.UID{1, 2}) || !slices.Equal(res.Dest, []store.UID{1, 2}) || res.UIDValidity != arch.UIDValidity {
		t.Errorf("copy result %+v", res)
	}
	// Expunging the originals leaves the copies readable.
	s.Expunge(ctx, in.ID, nil)
	raw, err := s.ReadMessage(arch.ID, 2)
	if err != nil || string(raw) != "two\r\n" {
		t.Errorf("copy after source expunge: %q %v", raw, err)
	}
	msgs, _ := s.List(arch.ID)
	if !msgs[1].Has(`\flagged`) {
		t.Errorf("copy lost flags: %v", msgs[1].Flags)
	}
	res, err = s.Move(ctx, arch.ID, []store.UID{1}, in.ID)
	if err != nil || !slices.Equal(res.Dest, []store.UID{3}) {
		t.Fatalf("move: %+v %v", res, err)
	}
	if msgs, _ := s.List(arch.ID); len(msgs) != 1 {
		t.Errorf("source after move has %d messages", len(msgs))
	}
}

func TestRename(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	for _, n := range []string{"Work", "Work/2024", "Work/2024/Q1", "Workers"} {
		if _, err := s.CreateMailbox(ctx, a.ID, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateMailbox(ctx, a.ID, "Work", ""); !errors.Is(err, store.ErrMailboxExists) {
		t.Errorf("duplicate create: %v", err)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, "a/b/c", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MailboxByName(a.ID, "a/b"); err != nil {
		t.Errorf("parent not created: %v", err)
	}
	w, _ := s.MailboxByName(a.ID, "Work/2024")
	if err := s.RenameMailbox(ctx, a.ID, "Work", "Old/Work"); err != nil {
		t.Fatal(err)
	}
	mbs, _ := s.Mailboxes(a.ID)
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	for _, n := range []string{"Old", "Old/Work", "Old/Work/2024", "Old/Work/2024/Q1", "Workers"} {
		if !slices.Contains(names, n) {
			t.Errorf("after rename, %q missing from %v", n, names)
		}
	}
	w2, _ := s.MailboxByName(a.ID, "Old/Work/2024")
	if w2 == nil || w2.UIDValidity != w.UIDValidity {
		t.Errorf("rename changed UIDVALIDITY or lost mailbox")
	}
	// INBOX rename moves the messages and leaves INBOX empty.
	deliver(t, s, a, "x\r\n")
	if err := s.RenameMailbox(ctx, a.ID, "inbox", "Saved"); err != nil {
		t.Fatal(err)
	}
	in := storetest.Inbox(t, s, a)
	saved, _ := s.MailboxByName(a.ID, "Saved")
	if in.Messages != 0 || saved.Messages != 1 {
		t.Errorf("INBOX rename: inbox %d, saved %d messages", in.Messages, saved.Messages)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "INBOX"); !errors.Is(err, store.ErrInboxProtected) {
		t.Errorf("delete INBOX: %v", err)
	}
	for _, bad := range []string{"", "/x", "x/", "a//b", "a*b", "a%", "a\x01"} {
		if _, err := s.CreateMailbox(ctx, a.ID, bad, ""); !errors.Is(err, store.ErrBadName) {
			t.Errorf("create %q: %v", bad, err)
		}
	}
}

func TestMultiRecipientSharedBlob(t *testing.T) {
	s := storetest.Open(t)
	var targets []store.Target
	var accts []*store.Account
	for i := 0; i < 5; i++ {
		a := storetest.Account(t, s, fmt.Sprintf("u%d@example.com", i))
		accts = append(accts, a)
		targets = append(targets, store.Target{Account: a.ID, Prefix: []byte(fmt.Sprintf("Received: for u%d\r\n", i))})
	}
	body := []byte("Subject: all\r\n\r\nhello\r\n")
	got, err := s.Deliver(ctx, &store.Delivery{Body: body, Targets: targets})
	if err != nil || len(got) != 5 {
		t.Fatalf("deliver: %v %v", got, err)
	}
	for i, a := range accts {
		in := storetest.Inbox(t, s, a)
		raw, err := s.ReadMessage(in.ID, 1)
		want := fmt.Sprintf("Received: for u%d\r\n%s", i, body)
		if err != nil || string(raw) != want {
			t.Errorf("u%d: %q %v", i, raw, err)
		}
	}
}

func TestContentSlice(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	body := bytes.Repeat([]byte("0123456789"), 1000)
	s.Deliver(ctx, &store.Delivery{Body: body, Targets: []store.Target{{Account: a.ID, Prefix: []byte("P: 1\r\n")}}})
	full := append([]byte("P: 1\r\n"), body...)
	err := s.ReadContent(in.ID, 1, func(c *store.Content, p *store.Part) error {
		for _, r := range [][2]int64{{0, 3}, {4, 10}, {6, 5}, {9990, 100}, {20000, 5}} {
			got := c.Slice(r[0], r[1])
			end := min(r[0]+r[1], int64(len(full)))
			want := full[min(r[0], end):end]
			if !bytes.Equal(got, want) {
				t.Errorf("slice %v = %q, want %q", r, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatchWindow: a change committed while Watch reads its snapshot
// reaches fn once, after Watch has returned to a caller that holds the
// lock fn takes (store/doc.go's contract), not from within Watch.
func TestWatchWindow(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	deliver(t, s, a, "Subject: before\r\n\r\nx\r\n")
	var during store.Delivered
	store.SetAfterSnapshot(s, func() { during = deliver(t, s, a, "Subject: during\r\n\r\nx\r\n") })
	var mu sync.Mutex
	var snap *store.Snapshot
	got := make(chan store.Event, 10)
	mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		var stop func()
		snap, stop, err = s.Watch(in.ID, func(ev store.Event) {
			mu.Lock()
			defer mu.Unlock()
			if snap == nil {
				t.Errorf("event before the snapshot was installed")
			}
			got <- ev
		})
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(stop)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch called fn from within itself, where its caller holds the lock")
	}
	mu.Unlock()
	if len(snap.UIDs) != 1 {
		t.Fatalf("snapshot UIDs %v, want the first message only", snap.UIDs)
	}
	select {
	case ev := <-got:
		if ev.Kind != store.EventAdded || ev.Messages[0].UID != during.UID {
			t.Fatalf("event %+v, want the delivery made during the snapshot", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the change made during the snapshot never came")
	}
	store.SetAfterSnapshot(s, nil)
	d := deliver(t, s, a, "Subject: after\r\n\r\nx\r\n")
	if ev := <-got; ev.Messages[0].UID != d.UID {
		t.Fatalf("next event %+v, want UID %d", ev, d.UID)
	}
}

// Messages and List lend the flags of many messages out of one array: a
// caller appending to one message's Flags must not change another's.
func TestMessagesFlagsApart(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "flags@example.org")
	var uids []store.UID
	var mbx store.MailboxID
	for i := range 3 {
		d := deliver(t, s, a, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
		mbx = d.Mailbox
		uids = append(uids, d.UID)
		if _, err := s.StoreFlags(ctx, mbx, []store.UID{d.UID}, store.FlagsAdd, []string{store.FlagSeen, "$K" + fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	byMessages, err := s.Messages(mbx, uids)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := s.List(mbx)
	if err != nil {
		t.Fatal(err)
	}
	for name, msgs := range map[string][]store.Message{"Messages": byMessages, "List": listed} {
		if len(msgs) != 3 {
			t.Fatalf("%s: %d messages, want 3", name, len(msgs))
		}
		msgs[0].Flags = append(msgs[0].Flags, "$Extra")
		msgs[1].Flags = append(msgs[1].Flags, "$Extra")
		for i, m := range msgs {
			want := []string{"$K" + fmt.Sprint(i), store.FlagSeen}
			if i < 2 {
				want = append(want, "$Extra")
			}
			if !slices.Equal(m.Flags, want) {
				t.Errorf("%s: message %d flags %q, want %q", name, i, m.Flags, want)
			}
		}
	}
}

// MessagesInto gives what Messages gives, in the caller's array when it
// is large enough, whatever that array held before.
func TestMessagesInto(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "into@example.org")
	var uids []store.UID
	var mbx store.MailboxID
	for i := range 5 {
		d := deliver(t, s, a, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
		mbx, uids = d.Mailbox, append(uids, d.UID)
	}
	if _, err := s.StoreFlags(ctx, mbx, uids[1:3], store.FlagsAdd, []string{store.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	ask := []store.UID{uids[0], uids[2], 999, uids[4]}
	want, err := s.Messages(mbx, ask)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]store.Message, 7, 8)
	for i := range buf {
		buf[i] = store.Message{UID: 12345, Flags: []string{"$Stale"}}
	}
	got, err := s.MessagesInto(buf, mbx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &buf[0] {
		t.Errorf("MessagesInto did not use the array it was given")
	}
	if len(got) != 3 || len(got) != len(want) {
		t.Fatalf("got %d messages, Messages gives %d, want 3", len(got), len(want))
	}
	for i := range got {
		if got[i].UID != want[i].UID || !slices.Equal(got[i].Flags, want[i].Flags) || got[i].ModSeq != want[i].ModSeq ||
			got[i].Size != want[i].Size || !got[i].InternalDate.Equal(want[i].InternalDate) || got[i].Blob != want[i].Blob {
			t.Errorf("message %d: MessagesInto %+v, Messages %+v", i, got[i], want[i])
		}
	}
	if _, err := s.MessagesInto(nil, 9999, ask); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("missing mailbox: %v, want ErrNoMailbox", err)
	}
}
