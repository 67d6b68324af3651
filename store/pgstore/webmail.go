package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// Page returns at most n messages of a mailbox next to anchor, newest
// (highest UID) first: with older, those with a UID below anchor (0 means
// from the newest); without, those with a UID above anchor, the n closest
// to it. It reads the n rows it returns, by the primary key's index (the
// web mail's message list).
func (s *Store) Page(mbx store.MailboxID, anchor store.UID, n int, older bool) ([]store.Message, error) {
	var out []store.Message
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		if err := exists(ctx, tx, mbx); err != nil {
			return err
		}
		if n <= 0 {
			out = []store.Message{}
			return nil
		}
		var rows pgx.Rows
		switch {
		case older && anchor == 0:
			rows, _ = tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 ORDER BY uid DESC LIMIT $2", int64(mbx), n)
		case older:
			rows, _ = tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 AND uid < $3 ORDER BY uid DESC LIMIT $2", int64(mbx), n, int64(anchor))
		default:
			rows, _ = tx.Query(ctx, "SELECT "+messageCols+" FROM messages WHERE mailbox = $1 AND uid > $3 ORDER BY uid LIMIT $2", int64(mbx), n, int64(anchor))
		}
		var err error
		out, err = pgx.CollectRows(rows, scanMessage)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !older {
		slices.Reverse(out)
	}
	if out == nil {
		out = []store.Message{}
	}
	return out, nil
}

// AliasesOf returns the aliases (not catch-alls) that name address itself
// among their targets, ordered by address: the addresses its owner may
// send as besides its own. An alias reaching it only through another
// alias does not count.
func (s *Store) AliasesOf(address string) ([]string, error) {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT address FROM aliases WHERE left(address, 1) <> '@'
		AND EXISTS (SELECT 1 FROM unnest(targets) t WHERE lower(t) = lower($1)) ORDER BY address COLLATE "C"`, addr)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("aliases of %s: %w", addr, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// AppendMany appends items to one mailbox, in order (ascending UIDs), in
// one transaction: all of them are durable when it returns nil, none when
// it fails (bulk imports).
func (s *Store) AppendMany(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error) {
	return s.appendMany(ctx, mbx, items, false)
}

// appendMany is AppendMany; with quota, it refuses with
// store.ErrOverQuota, in the same transaction, items that would take the
// mailbox's account past one of its limits.
func (s *Store) appendMany(ctx context.Context, mbx store.MailboxID, items []store.AppendItem, quota bool) ([]store.Delivered, error) {
	if len(items) == 0 {
		return nil, nil
	}
	infos := make([][]byte, len(items))
	for i, it := range items {
		infos[i] = store.EncodeStructure(store.ParseStructure(it.Body))
	}
	now := time.Now()
	var out []store.Delivered
	err := s.update(ctx, func(tx pgx.Tx) error {
		if _, err := lockMailbox(ctx, tx, mbx); err != nil {
			return err
		}
		if quota {
			var size int64
			for _, it := range items {
				size += int64(len(it.Body))
			}
			if err := checkQuotaTx(ctx, tx, mbx, size, int64(len(items))); err != nil {
				return err
			}
		}
		// The blobs in one round trip, the messages in one COPY, under
		// one MODSEQ: one change, announced as one event (as COPY's).
		batch := &pgx.Batch{}
		for i, it := range items {
			batch.Queue("INSERT INTO blobs (body, info) VALUES ($1, $2) RETURNING id", it.Body, infos[i])
		}
		br := tx.SendBatch(ctx, batch)
		msgs := make([]newMsg, len(items))
		for i, it := range items {
			var blob int64
			if err := br.QueryRow().Scan(&blob); err != nil {
				br.Close()
				return err
			}
			date := it.Date
			if date.IsZero() {
				date = now
			}
			msgs[i] = newMsg{blob: blob, prefix: []byte{}, flags: store.NormalizeFlags(it.Flags), date: date.UnixNano(), size: int64(len(it.Body))}
		}
		if err := br.Close(); err != nil {
			return err
		}
		mb, uids, err := addMessagesTx(ctx, tx, mbx, msgs)
		if err != nil {
			return err
		}
		out = make([]store.Delivered, len(uids))
		for i, u := range uids {
			out[i] = store.Delivered{Mailbox: mb.ID, UIDValidity: mb.UIDValidity, UID: u}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append many to mailbox %d: %w", mbx, err)
	}
	return out, nil
}
