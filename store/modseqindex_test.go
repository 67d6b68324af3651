package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"petrel/store"
	"petrel/store/storetest"
)

// changedByScan is what ChangedSince must answer, found the slow way.
func changedByScan(t testing.TB, s *store.Store, mbx store.MailboxID, since uint64) []store.Message {
	t.Helper()
	all, err := s.List(mbx)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(m store.Message) bool { return m.ModSeq <= since })
}

func checkChangedSince(t *testing.T, s *store.Store, mbx store.MailboxID, what string) {
	t.Helper()
	m, err := s.MailboxByID(mbx)
	if err != nil {
		t.Fatal(err)
	}
	for since := uint64(0); since <= m.ModSeq+1; since++ {
		got, err := s.ChangedSince(mbx, since)
		if err != nil {
			t.Fatalf("%s: ChangedSince(%d): %v", what, since, err)
		}
		want := changedByScan(t, s, mbx, since)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: ChangedSince(%d) = %v\nwant %v", what, since, got, want)
		}
	}
}

// TestChangedSince: the MODSEQ index follows every change (delivery,
// APPEND, flags, expunge, COPY, MOVE, RENAME of INBOX, delete), so
// ChangedSince answers exactly what a scan of every message would.
func TestChangedSince(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	for i := range 6 {
		deliver(t, s, a, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	checkChangedSince(t, s, in.ID, "delivered")
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{2, 4}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{2}, store.FlagsAdd, []string{store.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{2}, store.FlagsAdd, []string{store.FlagFlagged}); err != nil { // no change
		t.Fatal(err)
	}
	checkChangedSince(t, s, in.ID, "flags")
	if _, err := s.Expunge(ctx, in.ID, []store.UID{4}); err != nil {
		t.Fatal(err)
	}
	checkChangedSince(t, s, in.ID, "expunged")
	box, err := s.CreateMailbox(ctx, a.ID, "Box", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, in.ID, []store.UID{1, 2}, box.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, in.ID, []store.UID{3}, box.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, box.ID, []byte("Subject: x\r\n\r\ny\r\n"), []string{store.FlagDraft}, time.Now()); err != nil {
		t.Fatal(err)
	}
	checkChangedSince(t, s, in.ID, "moved from")
	checkChangedSince(t, s, box.ID, "copied and moved to")
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	old, err := s.MailboxByName(a.ID, "Old")
	if err != nil {
		t.Fatal(err)
	}
	checkChangedSince(t, s, in.ID, "INBOX renamed")
	checkChangedSince(t, s, old.ID, "INBOX's new name")
	if err := s.DeleteMailbox(ctx, a.ID, "Box"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangedSince(box.ID, 0); err == nil {
		t.Error("ChangedSince of a deleted mailbox succeeded")
	}
	if n := indexKeys(t, s, box.ID); n != 0 {
		t.Errorf("%d index keys outlive the deleted mailbox", n)
	}
}

// indexKeys counts the MODSEQ index keys of mailbox mbx, reading a backup
// of the store (the live file is locked).
func indexKeys(t *testing.T, s *store.Store, mbx store.MailboxID) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("modseqs"))
		if b == nil {
			t.Fatal("no MODSEQ index bucket")
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) == 20 && store.MailboxID(beUint64(k)) == mbx {
				n++
			}
			return nil
		})
	})
	return n
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// TestChangedSinceMigration: a store written before the MODSEQ index
// (no index bucket, no marker) is indexed when opened.
func TestChangedSinceMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	for i := range 5 {
		deliver(t, s, a, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{3}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it an old store.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("modseqs")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Delete([]byte("modseqidx"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ChangedSince(in.ID, 6)
	if err != nil || len(got) != 1 || got[0].UID != 3 {
		t.Fatalf("ChangedSince after migration = %v, %v; want UID 3", got, err)
	}
	checkChangedSince(t, s, in.ID, "migrated")
}

// BenchmarkChangedSince: 10 flags changed in a mailbox of
// PETREL_BENCH_MESSAGES (default 100,000) messages; ChangedSince reads
// those 10, List (the scan it replaces) reads them all.
func BenchmarkChangedSince(b *testing.B) {
	n := 100_000
	s := storetest.Open(b)
	a := storetest.Account(b, s, "bob@example.com")
	in := storetest.Inbox(b, s, a)
	fillLoaded(b, s, in.ID, n)
	m, _ := s.MailboxByID(in.ID)
	for i := range 10 {
		if _, err := s.StoreFlags(ctx, in.ID, []store.UID{store.UID(1 + i*n/10)}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			got, err := s.ChangedSince(in.ID, m.ModSeq)
			if err != nil || len(got) != 10 {
				b.Fatalf("%d changed, %v", len(got), err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if got := changedByScan(b, s, in.ID, m.ModSeq); len(got) != 10 {
				b.Fatalf("%d changed", len(got))
			}
		}
	})
}

// fillLoaded puts n small messages sharing one body into mailbox mbx
// quickly, the way a restore does (LoadMailbox, LoadMessages).
func fillLoaded(b testing.TB, s *store.Store, mbx store.MailboxID, n int) {
	b.Helper()
	m, err := s.MailboxByID(mbx)
	if err != nil {
		b.Fatal(err)
	}
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
		if err := s.LoadMessages(context.Background(), mbx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	mb := *m
	mb.UIDNext = store.UID(n + 1)
	mb.ModSeq = uint64(n + 1)
	mb.Messages = uint32(n)
	mb.Unseen = uint32(n)
	mb.Size = int64(n * len(body))
	if err := s.LoadMailbox(context.Background(), mb); err != nil {
		b.Fatal(err)
	}
}

// TestExpungeDeletedIndex: EXPUNGE (ExpungeDeleted with no UIDs) finds the
// \Deleted messages through the index, which follows every flag change,
// APPEND, COPY and expunge; and a store made before the index (its bucket
// and marker gone) is indexed when opened.
func TestExpungeDeletedIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	for i := range 6 {
		deliver(t, s, a, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	flag := func(op store.FlagOp, uids ...store.UID) {
		t.Helper()
		if _, err := s.StoreFlags(ctx, in.ID, uids, op, []string{`\deleted`}); err != nil {
			t.Fatal(err)
		}
	}
	flag(store.FlagsAdd, 1, 2, 3)
	flag(store.FlagsRemove, 2)
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{4}, store.FlagsReplace, []string{store.FlagSeen, store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{4}, store.FlagsReplace, []string{store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	app, err := s.Append(ctx, in.ID, []byte("Subject: x\r\n\r\ny\r\n"), []string{store.FlagDeleted}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	box, err := s.CreateMailbox(ctx, a.ID, "Box", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, in.ID, []store.UID{1, 2}, box.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it an old store.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("deletedidx")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Delete([]byte("deletedidx"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gone, err := s.ExpungeDeleted(ctx, in.ID, nil)
	if want := []store.UID{1, 3, app.UID}; err != nil || !slices.Equal(gone, want) {
		t.Fatalf("EXPUNGE of INBOX removed %v, %v; want %v", gone, err, want)
	}
	if gone, err := s.ExpungeDeleted(ctx, in.ID, nil); err != nil || len(gone) != 0 {
		t.Fatalf("second EXPUNGE removed %v, %v", gone, err)
	}
	gone, err = s.ExpungeDeleted(ctx, box.ID, nil)
	if err != nil || len(gone) != 1 {
		t.Fatalf("EXPUNGE of the copy's mailbox removed %v, %v; want the copy of UID 1", gone, err)
	}
	left, _ := s.List(in.ID)
	if len(left) != 4 {
		t.Fatalf("INBOX keeps %d messages, want 4", len(left))
	}
}

// TestMessagesInAnyOrder: Messages steps a cursor forward for ascending
// UIDs and searches for the others; either way it returns the messages
// that exist, in the order asked, skipping the missing.
func TestMessagesInAnyOrder(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "bob@example.com")
	in := storetest.Inbox(t, s, a)
	for i := range 40 {
		deliver(t, s, a, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	if _, err := s.Expunge(ctx, in.ID, []store.UID{1, 5, 6, 7, 20, 40}); err != nil {
		t.Fatal(err)
	}
	one := func(u store.UID) []store.UID {
		ms, err := s.Messages(in.ID, []store.UID{u})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return nil
		}
		return []store.UID{ms[0].UID}
	}
	for _, uids := range [][]store.UID{
		{1, 2, 3, 4, 5, 6, 7, 8},
		{2, 30, 31, 39, 40, 41, 100},
		{39, 2, 3, 2, 1, 8, 8, 21},
		{4, 19, 20, 21},
		{41, 42, 3},
	} {
		var want []store.UID
		for _, u := range uids {
			want = append(want, one(u)...)
		}
		ms, err := s.Messages(in.ID, uids)
		if err != nil {
			t.Fatal(err)
		}
		var got []store.UID
		for _, m := range ms {
			got = append(got, m.UID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Messages(%v) = %v, want %v", uids, got, want)
		}
	}
}
