package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"petrel/internal/pgtest"
	"petrel/store"
)

// A database made by the previous version (schema 8: usage summed from
// the messages when asked), with messages in several mailboxes, reports
// after the upgrade the same usage as the sums; then the counters follow
// every write, a node of the previous version's too (rows written to
// messages directly), and VerifyUsage finds a counter changed by hand.
func TestQuotaUsageUpgrade(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const before = 8
	if before != SchemaVersion-1 {
		t.Fatalf("the previous schema is %d, not %d: make this test's database with the previous version's tables", SchemaVersion-1, before)
	}
	if _, _, err := migrateTo(ctx, pool, before); err != nil {
		t.Fatal(err)
	}
	// What version 8 wrote: bob has five messages in INBOX and Archive
	// (two sharing a blob, as a COPY does), carol has mail, dave none.
	_, err = pool.Exec(ctx, `
-- IDs 1, 2, 3... in order, in a new database.
INSERT INTO accounts (address, hash, created) VALUES
	('bob@example.org', 'x', now()), ('carol@example.org', 'x', now()), ('dave@example.org', 'x', now());
INSERT INTO mailboxes (account, name, uidnext, messages, size) VALUES
	(1, 'INBOX', 4, 3, 600), (1, 'Archive', 3, 2, 4500), (2, 'INBOX', 2, 1, 70), (3, 'INBOX', 1, 0, 0);
INSERT INTO blobs (body, info) VALUES ('a', ''), ('b', ''), ('c', ''), ('d', ''), ('e', '');
INSERT INTO messages (mailbox, uid, blob, prefix, flags, date_ns, size, modseq) VALUES
	(1, 1, 1, '', '{}', 0, 100, 1), (1, 2, 2, '', '{}', 0, 200, 1), (1, 3, 3, '', '{}', 0, 300, 1),
	(2, 1, 3, '', '{}', 0, 300, 1), (2, 2, 4, '', '{"\\Seen"}', 0, 4200, 1),
	(3, 1, 5, '', '{}', 0, 70, 1);
`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn, Options{CheapPasswordHash: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[uint64]store.Quota{1: {Storage: 5100, Messages: 5}, 2: {Storage: 70, Messages: 1}, 3: {}}
	check := func(when string) {
		t.Helper()
		for acct, w := range want {
			if q, err := s.Quota(acct); err != nil || q != w {
				t.Errorf("%s: Quota(%d) = %+v, %v; want %+v", when, acct, q, err, w)
			}
		}
		if err := s.VerifyUsage(); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	check("after the upgrade")

	// A node still on the previous version inserts and deletes rows
	// itself; the counters follow.
	if _, err := pool.Exec(ctx, `INSERT INTO messages (mailbox, uid, blob, prefix, flags, date_ns, size, modseq) VALUES (4, 1, 5, '', '{}', 0, 70, 2)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM messages WHERE mailbox = 1 AND uid IN (1, 2)`); err != nil {
		t.Fatal(err)
	}
	want[3] = store.Quota{Storage: 70, Messages: 1}
	want[1] = store.Quota{Storage: 4800, Messages: 3}
	check("after writes of the previous version")

	// And this version's writes, with limits set.
	if err := s.SetQuota(ctx, "bob@example.org", 5200, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendWithinQuota(ctx, 2, []store.AppendItem{{Body: make([]byte, 401)}}); err == nil {
		t.Error("an APPEND past the storage limit was taken")
	}
	if _, err := s.AppendWithinQuota(ctx, 2, []store.AppendItem{{Body: make([]byte, 400)}}); err != nil {
		t.Fatal(err)
	}
	want[1] = store.Quota{Storage: 5200, Messages: 4, StorageLimit: 5200, MessageLimit: 10}
	check("after an APPEND")

	// A counter changed by hand is found.
	if _, err := pool.Exec(ctx, "UPDATE account_usage SET storage = storage + 1 WHERE account = 2"); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyUsage(); err == nil {
		t.Error("VerifyUsage found nothing wrong with a counter changed by hand")
	}
}
