package store_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"petrel/store"
	"petrel/store/storetest"
)

// sumUsage adds up the sizes and number of an account's messages as
// List reports them: what the kept usage must equal.
func sumUsage(t testing.TB, s *store.Store, acct uint64) (size, n int64) {
	t.Helper()
	mbs, err := s.Mailboxes(acct)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mbs {
		msgs, err := s.List(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range msgs {
			size += msg.Size
			n++
		}
	}
	return size, n
}

// randomOps runs n random writes of every kind that changes usage on the
// accounts' mailboxes; errors a write may rightly give (over quota, a
// mailbox that is gone) are ignored. step, if set, is called after each.
func randomOps(t testing.TB, s *store.Store, rng *rand.Rand, accts []*store.Account, n int, step func(i int)) {
	t.Helper()
	names := []string{"INBOX", "Archive", "Trash", "a", "a/b"}
	mbx := func(acct *store.Account) *store.Mailbox {
		name := names[rng.IntN(len(names))]
		m, err := s.MailboxByName(acct.ID, name)
		if errors.Is(err, store.ErrNoMailbox) {
			if m, err = s.CreateMailbox(ctx, acct.ID, name, ""); err != nil && !errors.Is(err, store.ErrMailboxExists) {
				t.Fatal(err)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	some := func(m *store.Mailbox) []store.UID {
		msgs, err := s.List(m.ID)
		if err != nil || len(msgs) == 0 {
			return nil
		}
		var uids []store.UID
		for _, msg := range msgs {
			if rng.IntN(3) == 0 {
				uids = append(uids, msg.UID)
			}
		}
		return uids
	}
	for i := range n {
		acct := accts[rng.IntN(len(accts))]
		body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", rng.IntN(2000)))
		var err error
		switch op := rng.IntN(10); op {
		case 0, 1:
			var tgs []store.Target
			for _, a := range accts {
				if rng.IntN(2) == 0 {
					tgs = append(tgs, store.Target{Account: a.ID, Mailbox: names[rng.IntN(len(names))], Prefix: []byte("Received: x\r\n")})
				}
			}
			_, err = s.Deliver(ctx, &store.Delivery{Body: []byte(body), Targets: tgs})
		case 2, 3:
			_, err = s.AppendWithinQuota(ctx, mbx(acct).ID, []store.AppendItem{{Body: []byte(body)}})
		case 4:
			src := mbx(acct)
			_, err = s.Copy(ctx, src.ID, some(src), mbx(acct).ID)
		case 5:
			src := mbx(acct)
			_, err = s.Move(ctx, src.ID, some(src), mbx(acct).ID)
		case 6:
			m := mbx(acct)
			uids := some(m)
			if _, err = s.StoreFlags(ctx, m.ID, uids, store.FlagsAdd, []string{store.FlagDeleted}); err == nil {
				_, err = s.ExpungeDeleted(ctx, m.ID, nil)
			}
		case 7:
			m := mbx(acct)
			_, err = s.Expunge(ctx, m.ID, some(m))
		case 8:
			if name := names[rng.IntN(len(names))]; name != "INBOX" {
				err = s.DeleteMailbox(ctx, acct.ID, name)
			}
		case 9:
			err = s.RenameMailbox(ctx, acct.ID, "INBOX", fmt.Sprintf("old%d", i))
			if err == nil {
				err = s.DeleteMailbox(ctx, acct.ID, fmt.Sprintf("old%d", i))
			}
		}
		if err != nil && !errors.Is(err, store.ErrOverQuota) && !errors.Is(err, store.ErrNoMailbox) && !errors.Is(err, store.ErrMailboxExists) {
			t.Fatalf("op %d: %v", i, err)
		}
		if step != nil {
			step(i)
		}
	}
}

// TestQuotaUsageExact: after every one of many random writes, each
// account's kept usage equals the sum of its messages' sizes, and no
// APPEND or COPY took it past its limits.
func TestQuotaUsageExact(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "a@example.org")
	b := storetest.Account(t, s, "b@example.org")
	if err := s.SetQuota(ctx, b.Address, 40000, 30); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 19))
	accts := []*store.Account{a, b}
	randomOps(t, s, rng, accts, 400, func(i int) {
		for _, acct := range accts {
			q, err := s.Quota(acct.ID)
			if err != nil {
				t.Fatal(err)
			}
			size, n := sumUsage(t, s, acct.ID)
			if q.Storage != size || q.Messages != n {
				t.Fatalf("after op %d, %s: usage %d bytes/%d messages, messages add up to %d/%d", i, acct.Address, q.Storage, q.Messages, size, n)
			}
		}
	})
	if err := s.VerifyUsage(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Quota(a.ID); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("quota of a deleted account: %v", err)
	}
}

func TestQuotaEnforced(t *testing.T) {
	s := storetest.Open(t)
	a := storetest.Account(t, s, "a@example.org")
	inbox := storetest.Inbox(t, s, a)
	arch, err := s.MailboxByName(a.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("Subject: q\r\n\r\n" + strings.Repeat("y", 88) + "\r\n") // 104 bytes
	if _, err := appendQ(s, inbox.ID, msg); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuota(ctx, a.Address, 250, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := appendQ(s, inbox.ID, msg); err != nil {
		t.Fatalf("second message within 250 bytes: %v", err)
	}
	if _, err := appendQ(s, inbox.ID, msg); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("third message past 250 bytes: %v, want ErrOverQuota", err)
	}
	if _, err := s.Append(ctx, inbox.ID, msg, nil, time.Time{}); err != nil {
		t.Fatalf("Append (drafts, imports) is not refused: %v", err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, []store.UID{3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendWithinQuota(ctx, inbox.ID, []store.AppendItem{{Body: []byte("Subject: x\r\n\r\n")}, {Body: msg}}); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("two messages that do not both fit: %v", err)
	}
	if _, err := s.Copy(ctx, inbox.ID, []store.UID{1}, arch.ID); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("copy past the limit: %v, want ErrOverQuota", err)
	}
	if _, err := s.Move(ctx, inbox.ID, []store.UID{1, 2}, arch.ID); err != nil {
		t.Fatalf("a move changes no usage: %v", err)
	}
	if err := s.SetQuota(ctx, a.Address, 0, 2); err != nil {
		t.Fatal(err)
	}
	q, err := s.Quota(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if q != (store.Quota{Storage: 208, Messages: 2, MessageLimit: 2}) || !q.Full() || q.Fits(1, 1) {
		t.Fatalf("quota %+v", q)
	}
	if _, err := appendQ(s, inbox.ID, msg); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("a third message past a 2-message limit: %v", err)
	}
	if err := s.SetQuota(ctx, a.Address, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := appendQ(s, inbox.ID, msg); err != nil {
		t.Fatalf("no limits: %v", err)
	}
	if err := s.SetQuota(ctx, "nobody@example.org", 1, 1); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("quota of nobody: %v", err)
	}
}

// TestQuotaComputedForOldStore: a store written before usage was kept
// gets it computed when opened.
func TestQuotaComputedForOldStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Account(t, s, "a@example.org")
	deliver(t, s, a, "Subject: 1\r\n\r\nhello\r\n")
	deliver(t, s, a, "Subject: 2\r\n\r\nhello again\r\n")
	want, _ := s.Quota(a.ID)
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("meta")).Delete([]byte("quota")); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("quota"))
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
	got, err := s.Quota(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got.Messages != 2 {
		t.Fatalf("usage computed on open: %+v, want %+v", got, want)
	}
}

// TestQuotaCrashChild is the process TestQuotaUsageAfterSIGKILL kills; it
// does nothing unless started by it.
func TestQuotaCrashChild(t *testing.T) {
	path := os.Getenv("PETREL_QUOTA_CRASH_PATH")
	if path == "" {
		t.Skip("helper process of TestQuotaUsageAfterSIGKILL")
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.AccountByAddress("a@example.org")
	b, _ := s.AccountByAddress("b@example.org")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	randomOps(t, s, rng, []*store.Account{a, b}, 1<<30, func(i int) {
		fmt.Println("op", i) // the parent kills us once it has seen enough
	})
}

// TestQuotaUsageAfterSIGKILL kills a process in the middle of random
// writes and opens its store again: the usage kept is exactly the sum of
// the sizes of the messages there.
func TestQuotaUsageAfterSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Account(t, s, "a@example.org")
	b := storetest.Account(t, s, "b@example.org")
	if err := s.SetQuota(ctx, b.Address, 30000, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestQuotaCrashChild$")
		cmd.Env = append(os.Environ(), "PETREL_QUOTA_CRASH_PATH="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		want := 50 + 37*round
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "op "); ok {
				if i, _ := strconv.Atoi(n); i >= want {
					break
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		s, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyUsage(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		for _, acct := range []*store.Account{a, b} {
			q, _ := s.Quota(acct.ID)
			size, n := sumUsage(t, s, acct.ID)
			if q.Storage != size || q.Messages != n {
				t.Errorf("round %d, %s: usage %d/%d, messages add up to %d/%d", round, acct.Address, q.Storage, q.Messages, size, n)
			}
			if n == 0 && round == 2 {
				t.Logf("%s has no messages left", acct.Address)
			}
		}
		s.Close()
	}
	storetest.Check(t, path)
}

func appendQ(s *store.Store, mbx store.MailboxID, msg []byte) (store.Delivered, error) {
	ds, err := s.AppendWithinQuota(ctx, mbx, []store.AppendItem{{Body: msg}})
	if err != nil {
		return store.Delivered{}, err
	}
	return ds[0], nil
}
