package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// Quotas: an account's limits are columns of its row; its usage is the
// sum over its messages, read in the transaction that needs it, so it is
// exact whatever wrote the messages and after any crash. A write that
// checks the limits (AppendWithinQuota) first locks the account's row, so
// two such writes to one account never both pass a limit; a delivery
// (SMTP) is checked at RCPT against Quota, as on bbolt.

// usageTx reads an account's usage and limits.
func usageTx(ctx context.Context, tx pgx.Tx, acct uint64, lock bool) (store.Quota, error) {
	var q store.Quota
	sql := "SELECT storage_limit, message_limit FROM accounts WHERE id = $1"
	if lock {
		sql += " FOR UPDATE"
	}
	if err := tx.QueryRow(ctx, sql, int64(acct)).Scan(&q.StorageLimit, &q.MessageLimit); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return q, store.ErrNoAccount
		}
		return q, err
	}
	err := tx.QueryRow(ctx, `SELECT coalesce(sum(m.size), 0)::bigint, count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox WHERE b.account = $1`,
		int64(acct)).Scan(&q.Storage, &q.Messages)
	return q, err
}

// checkQuotaTx refuses, with store.ErrOverQuota, n more messages of size
// bytes in mbx's account past its limits.
func checkQuotaTx(ctx context.Context, tx pgx.Tx, mbx store.MailboxID, size, n int64) error {
	var acct int64
	if err := tx.QueryRow(ctx, "SELECT account FROM mailboxes WHERE id = $1", int64(mbx)).Scan(&acct); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNoMailbox
		}
		return err
	}
	q, err := usageTx(ctx, tx, uint64(acct), true)
	if err != nil {
		return err
	}
	if !q.Fits(size, n) {
		return store.ErrOverQuota
	}
	return nil
}

// Quota returns an account's usage and limits.
func (s *Store) Quota(acct uint64) (store.Quota, error) {
	var q store.Quota
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		var err error
		q, err = usageTx(ctx, tx, acct, false)
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
