package store_test

import (
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"petrel/store"
)

// countedInbox opens a store that counts its commits, with an account
// whose INBOX holds three messages (UIDs 1–3) with the given flags.
func countedInbox(t *testing.T, flags []string) (*store.Store, *store.Mailbox, *atomic.Int64) {
	t.Helper()
	commits := new(atomic.Int64)
	s, err := store.Open(filepath.Join(t.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true,
		OnCommit: func(time.Duration, int) { commits.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, err := s.CreateAccount(ctx, "flags@example.com", "secret")
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.MailboxByName(a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Append(ctx, in.ID, []byte("Subject: x\r\n\r\nbody\r\n"), flags, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return s, in, commits
}

// TestStoreFlagsUnchangedNoCommit: a STORE that changes no message (flags
// already so, a flag removed that was not there, UIDs gone, messages
// modified since UNCHANGEDSINCE) answers as before but commits nothing and
// announces nothing; one that changes a message commits once.
func TestStoreFlagsUnchangedNoCommit(t *testing.T) {
	s, in, commits := countedInbox(t, []string{store.FlagSeen})
	var events atomic.Int64
	_, stop, err := s.Watch(in.ID, func(store.Event) { events.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	before := commits.Load()
	check := func(name string, wantCommits int64, f func() ([]store.Message, []store.UID, error), wantUIDs, wantModified []store.UID) {
		t.Helper()
		c0 := commits.Load()
		out, modified, err := f()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var uids []store.UID
		for _, m := range out {
			uids = append(uids, m.UID)
		}
		if !slices.Equal(uids, wantUIDs) || !slices.Equal(modified, wantModified) {
			t.Errorf("%s: messages %v modified %v, want %v %v", name, uids, modified, wantUIDs, wantModified)
		}
		if got := commits.Load() - c0; got != wantCommits {
			t.Errorf("%s: %d commits, want %d", name, got, wantCommits)
		}
	}
	check("+\\Seen on seen messages", 0, func() ([]store.Message, []store.UID, error) {
		return s.StoreFlagsIf(ctx, in.ID, []store.UID{1, 2, 3, 9}, store.FlagsAdd, []string{store.FlagSeen}, ^uint64(0))
	}, []store.UID{1, 2, 3}, nil)
	check("-\\Flagged where none is", 0, func() ([]store.Message, []store.UID, error) {
		return s.StoreFlagsIf(ctx, in.ID, []store.UID{2}, store.FlagsRemove, []string{store.FlagFlagged}, ^uint64(0))
	}, []store.UID{2}, nil)
	check("UNCHANGEDSINCE below every MODSEQ", 0, func() ([]store.Message, []store.UID, error) {
		return s.StoreFlagsIf(ctx, in.ID, []store.UID{1, 3}, store.FlagsAdd, []string{store.FlagFlagged}, 0)
	}, nil, []store.UID{1, 3})
	if n := commits.Load() - before; n != 0 {
		t.Fatalf("%d commits for STOREs that change nothing", n)
	}
	if n := events.Load(); n != 0 {
		t.Fatalf("%d events for STOREs that change nothing", n)
	}
	check("+\\Flagged", 1, func() ([]store.Message, []store.UID, error) {
		return s.StoreFlagsIf(ctx, in.ID, []store.UID{2}, store.FlagsAdd, []string{store.FlagFlagged}, ^uint64(0))
	}, []store.UID{2}, nil)
	msgs, err := s.Messages(in.ID, []store.UID{2})
	if err != nil || len(msgs) != 1 || !slices.Contains(msgs[0].Flags, store.FlagFlagged) {
		t.Fatalf("after +\\Flagged: %+v %v", msgs, err)
	}
	if _, _, err := s.StoreFlagsIf(ctx, store.MailboxID(999999), []store.UID{1}, store.FlagsAdd, []string{store.FlagSeen}, ^uint64(0)); err == nil {
		t.Error("STORE in a mailbox that does not exist: no error")
	}
}

// TestExpungeNothingNoCommit: EXPUNGE and UID EXPUNGE that find no
// \Deleted message to remove answer without a commit; one that does
// removes it.
func TestExpungeNothingNoCommit(t *testing.T) {
	s, in, commits := countedInbox(t, nil)
	c0 := commits.Load()
	if got, err := s.ExpungeDeleted(ctx, in.ID, nil); err != nil || len(got) != 0 {
		t.Fatalf("EXPUNGE with nothing \\Deleted: %v %v", got, err)
	}
	if _, err := s.StoreFlags(ctx, in.ID, []store.UID{2}, store.FlagsAdd, []string{store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	c1 := commits.Load()
	if got, err := s.ExpungeDeleted(ctx, in.ID, []store.UID{1, 3}); err != nil || len(got) != 0 {
		t.Fatalf("UID EXPUNGE 1,3 with 2 \\Deleted: %v %v", got, err)
	}
	if c1-c0 != 1 || commits.Load() != c1 {
		t.Fatalf("commits: %d for EXPUNGE of nothing and STORE, %d for UID EXPUNGE of nothing; want 1 and 0", c1-c0, commits.Load()-c1)
	}
	if got, err := s.ExpungeDeleted(ctx, in.ID, []store.UID{3, 2}); err != nil || !slices.Equal(got, []store.UID{2}) {
		t.Fatalf("UID EXPUNGE 3,2: %v %v, want [2]", got, err)
	}
	if _, err := s.ExpungeDeleted(ctx, store.MailboxID(999999), nil); err == nil {
		t.Error("EXPUNGE in a mailbox that does not exist: no error")
	}
}
