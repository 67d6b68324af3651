package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"petrel/internal/pgtest"
	"petrel/store"
	"petrel/store/storetest"
)

// Writers of two accounts at once, on two nodes, never wait for each other
// in a circle: deliveries to both accounts whose mailboxes' ID order is
// not their accounts' order (bob's folder made after alice's INBOX), while
// COPY, MOVE, EXPUNGE and APPEND with its quota check run in the same
// mailboxes. PostgreSQL's deadlock detector is put off for a minute, so a
// circle fails the test (its writes time out) instead of being broken and
// retried. The counters then equal the messages.
func TestQuotaUsageConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t) + "&deadlock_timeout=60s"
	verifyUsage(t, dsn)
	nodeA, nodeB := open(t, dsn), open(t, dsn)
	bob, err := nodeA.CreateAccount(ctx, "bob@example.org", "x")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := nodeA.CreateAccount(ctx, "alice@example.org", "x")
	if err != nil {
		t.Fatal(err)
	}
	box := func(acct uint64, name string) store.MailboxID {
		m, err := nodeA.MailboxByName(acct, name)
		if err != nil {
			m, err = nodeA.CreateMailbox(ctx, acct, name, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	bobIn, aliceIn, bobLate := box(bob.ID, "INBOX"), box(alice.ID, "INBOX"), box(bob.ID, "Late")
	if !(bobIn < aliceIn && aliceIn < bobLate) {
		t.Fatalf("mailbox IDs %d %d %d not in the order this test needs", bobIn, aliceIn, bobLate)
	}
	if err := nodeA.SetQuota(ctx, "bob@example.org", 1<<40, 1<<20); err != nil {
		t.Fatal(err)
	}
	body := storetest.BenchMessage(1 << 10)
	const rounds = 40
	type op struct {
		name string
		fn   func(ctx context.Context, s storetest.Backend) error
	}
	ops := []op{
		{"deliver to alice's INBOX and bob's Late", func(ctx context.Context, s storetest.Backend) error {
			_, err := s.Deliver(ctx, &store.Delivery{Body: body, Targets: []store.Target{{Account: alice.ID}, {Account: bob.ID, Mailbox: "Late"}}})
			return err
		}},
		{"deliver to bob's INBOX and alice's INBOX", func(ctx context.Context, s storetest.Backend) error {
			_, err := s.Deliver(ctx, &store.Delivery{Body: body, Targets: []store.Target{{Account: bob.ID}, {Account: alice.ID}}})
			return err
		}},
		{"copy bob's INBOX to Late, move back, expunge", func(ctx context.Context, s storetest.Backend) error {
			res, err := s.Copy(ctx, bobIn, []store.UID{1, 2, 3}, bobLate)
			if err != nil || len(res.Dest) == 0 {
				return err
			}
			moved, err := s.Move(ctx, bobLate, res.Dest[:1], bobIn)
			if err != nil {
				return err
			}
			if _, err := s.Expunge(ctx, bobIn, moved.Dest); err != nil {
				return err
			}
			_, err = s.Expunge(ctx, bobLate, res.Dest[1:])
			return err
		}},
		{"append to bob's Late within quota", func(ctx context.Context, s storetest.Backend) error {
			_, err := s.AppendWithinQuota(ctx, bobLate, []store.AppendItem{{Body: body}})
			return err
		}},
	}
	var wg sync.WaitGroup
	for i, o := range ops {
		for _, s := range []storetest.Backend{nodeA, nodeB} {
			wg.Go(func() {
				for r := range rounds {
					ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					err := o.fn(ctx, s)
					cancel()
					if err != nil {
						t.Errorf("%s (writer %d, round %d): %v", o.name, i, r, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	// Each delivery added one message to each of its two accounts, each
	// APPEND one to bob's; the copies went again.
	want := map[uint64]int64{bob.ID: 2*rounds*2 + 2*rounds, alice.ID: 2 * rounds * 2}
	for acct, n := range want {
		q, err := nodeB.Quota(acct)
		if err != nil || q.Messages != n || q.Storage != n*int64(len(body)) {
			t.Errorf("Quota(%d) = %+v, %v; want %d messages of %d bytes", acct, q, err, n, len(body))
		}
	}
}

// An account deleted while mail arrives in one of its folders goes
// without a deadlock (DeleteAccount locks all its mailboxes before it
// removes a message, which locks the usage row), and the delivery then
// finds no account.
func TestQuotaUsageDeleteAccountWhileDelivering(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t) + "&deadlock_timeout=60s"
	verifyUsage(t, dsn)
	s := open(t, dsn)
	body := storetest.BenchMessage(1 << 10)
	for i := range 10 {
		addr := fmt.Sprintf("carol%d@example.org", i)
		a, err := s.CreateAccount(ctx, addr, "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateMailbox(ctx, a.ID, "Lists", ""); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.Deliver(ctx, &store.Delivery{Body: body, Targets: []store.Target{{Account: a.ID}}}); err != nil {
				t.Fatal(err)
			}
		}
		started, stop := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for n := 0; ; n++ {
				if n == 1 {
					close(started)
				}
				select {
				case <-stop: // the deletion failed
					return
				default:
				}
				ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := s.Deliver(ctx, &store.Delivery{Body: body, Targets: []store.Target{{Account: a.ID, Mailbox: "Lists"}}})
				cancel()
				if errors.Is(err, store.ErrNoAccount) {
					return
				}
				if err != nil {
					t.Errorf("delivery to %s: %v", addr, err)
					if n == 0 {
						close(started)
					}
					return
				}
			}
		})
		<-started
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = s.DeleteAccount(dctx, addr)
		cancel()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("delete %s: %v", addr, err)
		}
	}
}
