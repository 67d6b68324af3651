package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

const mailboxCols = "id, account, name, special_use, uidvalidity, uidnext, modseq, subscribed, messages, unseen, deleted, size, created"

func scanMailbox(row pgx.Row) (store.Mailbox, error) {
	var m store.Mailbox
	var uidvalidity, uidnext, messages, unseen, deleted int64
	err := row.Scan(&m.ID, &m.Account, &m.Name, &m.SpecialUse, &uidvalidity, &uidnext, &m.ModSeq,
		&m.Subscribed, &messages, &unseen, &deleted, &m.Size, &m.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, store.ErrNoMailbox
	}
	m.UIDValidity, m.UIDNext = uint32(uidvalidity), store.UID(uidnext)
	m.Messages, m.Unseen, m.Deleted = uint32(messages), uint32(unseen), uint32(deleted)
	m.Created = m.Created.UTC()
	return m, err
}

func collectMailboxes(rows pgx.Rows) ([]store.Mailbox, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Mailbox, error) { return scanMailbox(r) })
}

// Mailboxes lists an account's mailboxes, ordered by name.
func (s *Store) Mailboxes(acct uint64) ([]store.Mailbox, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, "SELECT "+mailboxCols+` FROM mailboxes WHERE account = $1 ORDER BY name COLLATE "C"`, int64(acct))
	out, err := collectMailboxes(rows)
	if err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	return out, nil
}

// MailboxByName finds an account's mailbox by name (INBOX case-insensitive).
func (s *Store) MailboxByName(acct uint64, name string) (*store.Mailbox, error) {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return nil, store.ErrNoMailbox
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	m, err := mailboxByNameTx(ctx, s.pool, acct, n, false)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// MailboxByID returns a mailbox's current state.
func (s *Store) MailboxByID(id store.MailboxID) (*store.Mailbox, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	m, err := scanMailbox(s.pool.QueryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = $1", int64(id)))
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func mailboxByNameTx(ctx context.Context, q querier, acct uint64, name string, lock bool) (store.Mailbox, error) {
	sql := "SELECT " + mailboxCols + " FROM mailboxes WHERE account = $1 AND name = $2"
	if lock {
		sql += " FOR UPDATE"
	}
	return scanMailbox(q.QueryRow(ctx, sql, int64(acct), name))
}

// lockMailbox locks a mailbox's row for the transaction and returns it.
func lockMailbox(ctx context.Context, tx pgx.Tx, id store.MailboxID) (store.Mailbox, error) {
	return scanMailbox(tx.QueryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = $1 FOR UPDATE", int64(id)))
}

// CreateMailbox makes a mailbox, and any missing parents, subscribed.
func (s *Store) CreateMailbox(ctx context.Context, acct uint64, name, specialUse string) (*store.Mailbox, error) {
	return s.CreateMailboxSubscribed(ctx, acct, name, specialUse, true)
}

// CreateMailboxSubscribed is CreateMailbox that subscribes the new
// mailboxes only if subscribed, or if their name was subscribed before
// they existed (RFC 9051 6.3.7).
func (s *Store) CreateMailboxSubscribed(ctx context.Context, acct uint64, name, specialUse string, subscribed bool) (*store.Mailbox, error) {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	switch specialUse {
	case "", `\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`:
	default:
		return nil, fmt.Errorf("create mailbox %q: unknown special-use attribute %q", name, specialUse)
	}
	var m store.Mailbox
	err = s.update(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM accounts WHERE id = $1 FOR SHARE", int64(acct)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNoAccount
		}
		if err != nil {
			return err
		}
		if _, err := mailboxByNameTx(ctx, tx, acct, n, false); err == nil {
			return store.ErrMailboxExists
		}
		parents, err := createParentsTx(ctx, tx, acct, n, "")
		if err != nil {
			return err
		}
		for i := range parents {
			if err := subscribeNewTx(ctx, tx, &parents[i], subscribed); err != nil {
				return err
			}
		}
		if m, err = createMailboxTx(ctx, tx, acct, n, specialUse); err != nil {
			return err
		}
		return subscribeNewTx(ctx, tx, &m, subscribed)
	})
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", n, err)
	}
	return &m, nil
}

// createParentsTx makes the missing parents of name, except skip, and
// returns them.
func createParentsTx(ctx context.Context, tx pgx.Tx, acct uint64, name, skip string) ([]store.Mailbox, error) {
	var made []store.Mailbox
	parts := strings.Split(name, string(store.Separator))
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], string(store.Separator))
		if parent == skip {
			continue
		}
		if _, err := mailboxByNameTx(ctx, tx, acct, parent, false); errors.Is(err, store.ErrNoMailbox) {
			m, err := createMailboxTx(ctx, tx, acct, parent, "")
			if err != nil {
				return nil, err
			}
			made = append(made, m)
		}
	}
	return made, nil
}

// subscribeNewTx sets a new mailbox's subscription: subscribed, or its
// name's subscription from before it existed, which it takes over.
func subscribeNewTx(ctx context.Context, tx pgx.Tx, m *store.Mailbox, subscribed bool) error {
	tag, err := tx.Exec(ctx, "DELETE FROM subscriptions WHERE account = $1 AND name = $2", int64(m.Account), m.Name)
	if err != nil {
		return err
	}
	want := subscribed || tag.RowsAffected() > 0
	if m.Subscribed == want {
		return nil
	}
	m.Subscribed = want
	_, err = tx.Exec(ctx, "UPDATE mailboxes SET subscribed = $2 WHERE id = $1", int64(m.ID), want)
	return err
}

func createMailboxTx(ctx context.Context, tx pgx.Tx, acct uint64, name, specialUse string) (store.Mailbox, error) {
	m, err := scanMailbox(tx.QueryRow(ctx, "INSERT INTO mailboxes (account, name, special_use) VALUES ($1, $2, $3) RETURNING "+mailboxCols,
		int64(acct), name, specialUse))
	if isUnique(err) {
		return m, store.ErrMailboxExists
	}
	return m, err
}

// DeleteMailbox deletes a mailbox and its messages; its children stay.
func (s *Store) DeleteMailbox(ctx context.Context, acct uint64, name string) error {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", name, store.ErrNoMailbox)
	}
	if n == "INBOX" {
		return fmt.Errorf("delete mailbox: %w", store.ErrInboxProtected)
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		m, err := mailboxByNameTx(ctx, tx, acct, n, false)
		if err != nil {
			return err
		}
		return deleteMailboxTx(ctx, tx, m.ID)
	})
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", n, err)
	}
	return nil
}

func deleteMailboxTx(ctx context.Context, tx pgx.Tx, id store.MailboxID) error {
	m, err := lockMailbox(ctx, tx, id)
	if err != nil {
		return err
	}
	rows, _ := tx.Query(ctx, "DELETE FROM messages WHERE mailbox = $1 RETURNING blob", int64(id))
	blobs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if err := dropBlobs(ctx, tx, blobs); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM metadata WHERE account = $1 AND mailbox = $2", int64(m.Account), int64(id)); err != nil {
		return err
	}
	if m.Subscribed {
		// The subscription outlives the mailbox (RFC 9051 6.3.4, 6.3.7).
		if _, err := tx.Exec(ctx, "INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", int64(m.Account), m.Name); err != nil {
			return err
		}
	}
	// Its vanished UIDs go with it (ON DELETE CASCADE).
	if _, err := tx.Exec(ctx, "DELETE FROM mailboxes WHERE id = $1", int64(id)); err != nil {
		return err
	}
	return emit(ctx, tx, store.Event{Kind: store.EventMailboxDeleted, Mailbox: id, ModSeq: m.ModSeq + 1})
}

// RenameMailbox renames a mailbox and its children, which keep their IDs,
// UIDs and UIDVALIDITY. Renaming INBOX moves its messages into a new
// mailbox of the new name.
func (s *Store) RenameMailbox(ctx context.Context, acct uint64, oldName, newName string) error {
	from, err := store.NormalizeMailboxName(oldName)
	if err != nil {
		return fmt.Errorf("rename mailbox %q: %w", oldName, store.ErrNoMailbox)
	}
	to, err := store.NormalizeMailboxName(newName)
	if err != nil {
		return fmt.Errorf("rename mailbox to %q: %w", newName, err)
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		// The account's mailboxes, locked: names change together.
		rows, _ := tx.Query(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account = $1 ORDER BY id FOR UPDATE", int64(acct))
		all, err := collectMailboxes(rows)
		if err != nil {
			return err
		}
		byName := map[string]store.Mailbox{}
		for _, m := range all {
			byName[m.Name] = m
		}
		src, ok := byName[from]
		if !ok {
			return store.ErrNoMailbox
		}
		if _, ok := byName[to]; ok {
			return store.ErrMailboxExists
		}
		if to == from || strings.HasPrefix(to, from+string(store.Separator)) {
			return store.ErrBadName
		}
		if from == "INBOX" {
			dst, err := createMailboxTx(ctx, tx, acct, to, "")
			if err != nil {
				return err
			}
			rows, _ := tx.Query(ctx, "SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid", int64(src.ID))
			uids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			_, err = copyTx(ctx, tx, src.ID, toUIDs(uids), dst.ID, true)
			return err
		}
		if _, err := createParentsTx(ctx, tx, acct, to, from); err != nil {
			return err
		}
		prefix := from + string(store.Separator)
		for _, m := range all {
			if m.Name != from && !strings.HasPrefix(m.Name, prefix) {
				continue
			}
			if _, ok := byName[to+strings.TrimPrefix(m.Name, from)]; ok {
				return store.ErrMailboxExists
			}
		}
		_, err = tx.Exec(ctx, "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1) WHERE account = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/')",
			int64(acct), from, to)
		if isUnique(err) {
			return store.ErrMailboxExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("rename mailbox %q to %q: %w", from, to, err)
	}
	return nil
}

// SetSubscribed sets a mailbox's subscribed state. A name that is no
// mailbox can be subscribed too (RFC 9051 6.3.7: Subscriptions lists
// those); unsubscribing one that is not subscribed is ErrNoMailbox.
func (s *Store) SetSubscribed(ctx context.Context, acct uint64, name string, subscribed bool) error {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return store.ErrNoMailbox
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE mailboxes SET subscribed = $3 WHERE account = $1 AND name = $2", int64(acct), n, subscribed)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		if subscribed {
			if err := accountExists(ctx, tx, acct); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", int64(acct), n)
			return err
		}
		tag, err = tx.Exec(ctx, "DELETE FROM subscriptions WHERE account = $1 AND name = $2", int64(acct), n)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNoMailbox
		}
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNoMailbox) {
			return err
		}
		return fmt.Errorf("subscribe %q: %w", n, err)
	}
	return nil
}

// Subscriptions returns the subscribed names of an account that are no
// mailbox (a mailbox's subscription is its Subscribed), ordered.
func (s *Store) Subscriptions(acct uint64) ([]string, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT name FROM subscriptions WHERE account = $1 ORDER BY name COLLATE "C"`, int64(acct))
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	return out, nil
}

func toUIDs(v []int64) []store.UID {
	out := make([]store.UID, len(v))
	for i, u := range v {
		out[i] = store.UID(u)
	}
	return out
}

func fromUIDs(v []store.UID) []int64 {
	out := make([]int64, len(v))
	for i, u := range v {
		out[i] = int64(u)
	}
	return out
}
