package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// What the IMAP engine needs besides the contract's core: the expunged
// UIDs QRESYNC asks for (the table vanished, written by every expunge
// with the MODSEQ it gave the mailbox, in the same transaction), and
// METADATA (RFC 5464), with the bbolt store's rules and limits.

// Vanished returns, ascending, the UIDs expunged from mailbox mbx with a
// MODSEQ above since.
func (s *Store) Vanished(mbx store.MailboxID, since uint64) ([]store.UID, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, "SELECT DISTINCT uid FROM vanished WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
		int64(mbx), int64(min(since, 1<<63-1)))
	uids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("vanished since %d in mailbox %d: %w", since, mbx, err)
	}
	return toUIDs(uids), nil
}

// Metadata returns the entries of an account's mailbox (0: the server's)
// named in names or, with depth 1 or -1 (infinity), below them, ordered.
func (s *Store) Metadata(acct uint64, mbx store.MailboxID, names []string, depth int) ([]store.MetadataEntry, error) {
	var out []store.MetadataEntry
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		for _, n := range names {
			n = strings.ToLower(n)
			var v []byte
			err := tx.QueryRow(ctx, "SELECT value FROM metadata WHERE account = $1 AND mailbox = $2 AND name = $3", int64(acct), int64(mbx), n).Scan(&v)
			if err == nil {
				out = append(out, store.MetadataEntry{Name: n, Value: v})
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if depth == 0 {
				continue
			}
			prefix := n + "/"
			rows, _ := tx.Query(ctx, `SELECT name, value FROM metadata WHERE account = $1 AND mailbox = $2
				AND left(name, length($3)) = $3 ORDER BY name COLLATE "C"`, int64(acct), int64(mbx), prefix)
			var name string
			var value []byte
			if _, err := pgx.ForEachRow(rows, []any{&name, &value}, func() error {
				if depth == 1 && strings.Contains(name[len(prefix):], "/") {
					return nil
				}
				out = append(out, store.MetadataEntry{Name: name, Value: value})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return out, nil
}

// SetMetadata sets (a nil value: removes) entries of an account's mailbox
// (0: the server's), all or none; past store.MaxMetadataEntries entries
// in the account, store.ErrMetadataTooMany.
func (s *Store) SetMetadata(ctx context.Context, acct uint64, mbx store.MailboxID, entries []store.MetadataEntry) error {
	err := s.update(ctx, func(tx pgx.Tx) error {
		// The account's row locked: the count below holds until commit.
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", int64(acct)).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNoAccount
			}
			return err
		}
		if mbx != 0 {
			m, err := scanMailbox(tx.QueryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = $1 FOR SHARE", int64(mbx)))
			if err != nil {
				return err
			}
			if m.Account != acct {
				return store.ErrNoMailbox
			}
		}
		for _, e := range entries {
			name := strings.ToLower(e.Name)
			if e.Value == nil {
				if _, err := tx.Exec(ctx, "DELETE FROM metadata WHERE account = $1 AND mailbox = $2 AND name = $3", int64(acct), int64(mbx), name); err != nil {
					return err
				}
				continue
			}
			var n int
			var exists bool
			err := tx.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE mailbox = $2 AND name = $3) > 0 FROM metadata WHERE account = $1",
				int64(acct), int64(mbx), name).Scan(&n, &exists)
			if err != nil {
				return err
			}
			if !exists && n >= store.MaxMetadataEntries {
				return store.ErrMetadataTooMany
			}
			_, err = tx.Exec(ctx, `INSERT INTO metadata (account, mailbox, name, value) VALUES ($1, $2, $3, $4)
				ON CONFLICT (account, mailbox, name) DO UPDATE SET value = excluded.value`, int64(acct), int64(mbx), name, e.Value)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	return nil
}
