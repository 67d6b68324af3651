package store

import (
	"context"
	"fmt"
	"time"
)

// AppendItem is one message for AppendMany.
type AppendItem struct {
	Body  []byte // CRLF line ends
	Flags []string
	Date  time.Time // internal date; zero means now
}

// AppendMany appends items to one mailbox, in order (ascending UIDs), in
// one transaction: all of them are durable when it returns nil, none when
// it fails. It is Append for bulk imports, where one fsync per message
// would make a 50,000-message mailbox take minutes. Keep batches to a few
// megabytes: the whole batch is one bbolt transaction.
//
// Neither it nor Append checks the account's quota: imports and the web
// mail's drafts are not refused; IMAP's APPEND uses AppendWithinQuota.
func (s *Store) AppendMany(ctx context.Context, mbx MailboxID, items []AppendItem) ([]Delivered, error) {
	return s.appendMany(ctx, mbx, items, false)
}

func (s *Store) appendMany(ctx context.Context, mbx MailboxID, items []AppendItem, quota bool) ([]Delivered, error) {
	if len(items) == 0 {
		return nil, nil
	}
	infos := make([][]byte, len(items))
	for i, it := range items {
		infos[i] = encodeStructure(ParseStructure(it.Body))
	}
	now := time.Now()
	var out []Delivered
	err := s.update(ctx, func(t *tx) error {
		out = make([]Delivered, 0, len(items))
		m, err := getMailboxTx(t.Tx, mbx)
		if err != nil {
			return err
		}
		if quota {
			var size int64
			for _, it := range items {
				size += int64(len(it.Body))
			}
			if err := checkQuotaTx(t.Tx, m.Account, size, int64(len(items))); err != nil {
				return err
			}
		}
		for i, it := range items {
			date := it.Date
			if date.IsZero() {
				date = now
			}
			blob, err := putBlobTx(t.Tx, it.Body, infos[i], 1)
			if err != nil {
				return err
			}
			uid, err := addMessageTx(t, &m, &msgRecord{Blob: blob, Date: date.UnixNano(), Size: int64(len(it.Body)), Flags: normalizeFlags(it.Flags)})
			if err != nil {
				return err
			}
			out = append(out, Delivered{Mailbox: m.ID, UIDValidity: m.UIDValidity, UID: uid})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append many to mailbox %d: %w", mbx, err)
	}
	return out, nil
}
