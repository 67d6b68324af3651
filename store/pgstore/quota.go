package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// Quotas: an account's limits are columns of its row; its usage (the sum
// of its messages' sizes and their number, over all its mailboxes) is its
// row of account_usage, changed by triggers on messages (schema.go,
// version 9) in the statement that inserts, deletes or moves message
// rows, so it is exact after any crash and whatever wrote the messages:
// every path of this package, CopyFrom, a node still running the
// previous version during an upgrade. Reading it costs one row, not a
// sum over the account's messages.
//
// The counters are a table of their own rather than columns of accounts:
// a write rewrites a narrow row, and it takes no lock on the account's row,
// which CreateMailbox and junk training share and SetMetadata and
// DeleteAccount lock before any mailbox (the opposite order).
//
// Lock order (pgstore.go's doc): a write locks the mailboxes it changes
// (by ID), then, through the triggers or checkQuotaTx, the usage rows of
// their accounts. A write to several mailboxes locks them all before it
// inserts or deletes a message (Deliver, copyOrMove, DeleteAccount), so
// no usage row is held while a mailbox is awaited; one that spans several
// accounts locks their usage rows in account order. Writes to different
// accounts never wait for each other at it; writes that add or remove
// messages in one account, even in different mailboxes, take turns at its
// usage row until each commits, as writes to one mailbox do at the
// mailbox's row (flag changes do not touch it).
//
// A write that checks the limits (AppendWithinQuota, Copy) locks the usage
// row before it reads it, so two such writes to one account never both
// pass a limit; a delivery (SMTP) is checked at RCPT against Quota, as on
// bbolt.

// quotaCols are an account's limits and usage: of accounts a and
// account_usage u, read by scanQuota.
const quotaCols = "a.storage_limit, a.message_limit, u.storage, u.messages"

// scanQuota reads quotaCols from row; no row is the error missing.
func scanQuota(row pgx.Row, missing error) (store.Quota, error) {
	var q store.Quota
	err := row.Scan(&q.StorageLimit, &q.MessageLimit, &q.Storage, &q.Messages)
	if errors.Is(err, pgx.ErrNoRows) {
		err = missing
	}
	return q, err
}

// checkQuotaTx refuses, with store.ErrOverQuota, n more messages of size
// bytes in mbx's account past its limits. It locks the account's usage
// row until the transaction ends: the caller has locked mbx (the lock
// order), and a concurrent write to the account waits for this one's
// commit and then sees its messages counted.
func checkQuotaTx(ctx context.Context, tx pgx.Tx, mbx store.MailboxID, size, n int64) error {
	q, err := scanQuota(tx.QueryRow(ctx, "SELECT "+quotaCols+`
		FROM mailboxes b JOIN account_usage u ON u.account = b.account JOIN accounts a ON a.id = b.account
		WHERE b.id = $1 FOR UPDATE OF u`, int64(mbx)), store.ErrNoMailbox)
	if err != nil {
		return err
	}
	if !q.Fits(size, n) {
		return store.ErrOverQuota
	}
	return nil
}

// lockUsageTx locks the usage rows of accounts, in account order: for a
// write that adds or removes messages in several accounts, after it has
// locked their mailboxes.
func lockUsageTx(ctx context.Context, tx pgx.Tx, accts []int64) error {
	_, err := tx.Exec(ctx, "SELECT 1 FROM account_usage WHERE account = ANY($1) ORDER BY account FOR UPDATE", accts)
	return err
}

// VerifyUsage compares every account's usage counters with the sums of
// its messages, and reports the first that differs (tests; an operator's
// check after editing the database by hand).
func (s *Store) VerifyUsage() error {
	return s.view(func(ctx context.Context, tx pgx.Tx) error {
		var acct, storage, messages, sumStorage, sumMessages int64
		var hasRow bool
		err := tx.QueryRow(ctx, `SELECT a.id, u.account IS NOT NULL, coalesce(u.storage, 0), coalesce(u.messages, 0),
				coalesce(t.storage, 0), coalesce(t.n, 0)
			FROM accounts a LEFT JOIN account_usage u ON u.account = a.id
			LEFT JOIN (SELECT b.account, sum(m.size)::bigint AS storage, count(*) AS n
				FROM messages m JOIN mailboxes b ON b.id = m.mailbox GROUP BY b.account) t ON t.account = a.id
			WHERE u.account IS NULL OR u.storage <> coalesce(t.storage, 0) OR u.messages <> coalesce(t.n, 0)
			ORDER BY a.id LIMIT 1`).Scan(&acct, &hasRow, &storage, &messages, &sumStorage, &sumMessages)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("verify quota usage: %w", err)
		case !hasRow:
			return fmt.Errorf("account %d has no usage counters", acct)
		}
		return fmt.Errorf("account %d: usage counters say %d bytes in %d messages, its messages %d bytes in %d",
			acct, storage, messages, sumStorage, sumMessages)
	})
}

// Quota returns an account's usage and limits.
func (s *Store) Quota(acct uint64) (store.Quota, error) {
	var q store.Quota
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		var err error
		q, err = scanQuota(tx.QueryRow(ctx, "SELECT "+quotaCols+`
			FROM accounts a JOIN account_usage u ON u.account = a.id WHERE a.id = $1`, int64(acct)), store.ErrNoAccount)
		return err
	})
	if err != nil {
		return q, fmt.Errorf("quota of account %d: %w", acct, err)
	}
	return q, nil
}

// SetQuota sets an account's limits (0: none).
func (s *Store) SetQuota(ctx context.Context, address string, storageLimit, messageLimit int64) error {
	if storageLimit < 0 || messageLimit < 0 {
		return fmt.Errorf("set quota of %s: negative limit", address)
	}
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE accounts SET storage_limit = $2, message_limit = $3 WHERE address = $1", addr, storageLimit, messageLimit)
		if err == nil && tag.RowsAffected() == 0 {
			return store.ErrNoAccount
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set quota of %s: %w", address, err)
	}
	return nil
}

// AppendWithinQuota is AppendMany refused with store.ErrOverQuota, in
// the same transaction, when the items would take the account past a
// limit (IMAP APPEND's NO [OVERQUOTA]).
func (s *Store) AppendWithinQuota(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error) {
	return s.appendMany(ctx, mbx, items, true)
}
