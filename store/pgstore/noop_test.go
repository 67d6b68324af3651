package pgstore_test

import (
	"context"
	"testing"
	"time"

	"petrel/internal/pgtest"
	"petrel/store"
)

// A STORE that changes no flag and an EXPUNGE with nothing \Deleted take
// no lock and write nothing: they answer while another transaction holds
// the mailbox's row (where they used to wait for it, and then commit with
// a WAL flush for nothing). A STORE that does change a flag still waits
// for the mailbox, and then changes it.
func TestNoOpWritesTakeNoLock(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	bob, err := s.CreateAccount(ctx, "bob@example.org", "x")
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	for i := range 3 {
		d, err := s.Deliver(ctx, &store.Delivery{Body: []byte("Subject: x\r\n\r\nx\r\n"), Targets: []store.Target{{Account: bob.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, d[0].UID)
		if i == 0 {
			if _, err := s.StoreFlags(ctx, d[0].Mailbox, uids[:1], store.FlagsAdd, []string{store.FlagSeen}); err != nil {
				t.Fatal(err)
			}
		}
	}
	in, err := s.MailboxByName(bob.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}

	admin := holdMailbox(t, dsn, in.ID)

	// Bounded so that a write blocked on the row fails the test instead
	// of hanging it; the no-op writes do not wait at all.
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := s.StoreFlags(bounded, in.ID, uids[:1], store.FlagsAdd, []string{store.FlagSeen})
	if err != nil || len(out) != 1 || out[0].UID != uids[0] || len(out[0].Flags) != 1 || out[0].Flags[0] != store.FlagSeen {
		t.Fatalf("STORE +FLAGS \\Seen on a seen message = %+v, %v; want it answered, unchanged, while the mailbox is locked", out, err)
	}
	out, err = s.StoreFlags(bounded, in.ID, uids[1:], store.FlagsRemove, []string{store.FlagFlagged})
	if err != nil || len(out) != 2 {
		t.Fatalf("STORE -FLAGS \\Flagged on unflagged messages = %+v, %v; want both answered while the mailbox is locked", out, err)
	}
	gone, err := s.ExpungeDeleted(bounded, in.ID, nil)
	if err != nil || len(gone) != 0 {
		t.Fatalf("EXPUNGE with nothing \\Deleted = %v, %v; want nothing, answered while the mailbox is locked", gone, err)
	}
	gone, err = s.ExpungeDeleted(bounded, in.ID, uids[:2])
	if err != nil || len(gone) != 0 {
		t.Fatalf("UID EXPUNGE with nothing \\Deleted = %v, %v; want nothing, answered while the mailbox is locked", gone, err)
	}

	// A real change waits for the mailbox, then is made.
	done := make(chan error, 1)
	go func() {
		_, err := s.StoreFlags(ctx, in.ID, uids[1:2], store.FlagsAdd, []string{store.FlagDeleted})
		done <- err
	}()
	waitLockWaiters(t, dsn, 1)
	if err := admin.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// And now EXPUNGE finds it, with or without a UID set naming it.
	if gone, err := s.ExpungeDeleted(ctx, in.ID, uids[2:]); err != nil || len(gone) != 0 {
		t.Fatalf("UID EXPUNGE of a message not \\Deleted = %v, %v; want nothing", gone, err)
	}
	if gone, err := s.ExpungeDeleted(ctx, in.ID, nil); err != nil || len(gone) != 1 || gone[0] != uids[1] {
		t.Fatalf("EXPUNGE = %v, %v; want [%d]", gone, err, uids[1])
	}

	// A mailbox that does not exist is still an error, not an empty answer.
	if _, err := s.StoreFlags(ctx, in.ID+1000, uids, store.FlagsAdd, []string{store.FlagSeen}); err == nil {
		t.Error("STORE in a mailbox that does not exist: no error")
	}
	if _, err := s.ExpungeDeleted(ctx, in.ID+1000, uids); err == nil {
		t.Error("UID EXPUNGE in a mailbox that does not exist: no error")
	}
}
