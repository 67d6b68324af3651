package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Metadata (IMAP METADATA, RFC 5464): annotations an account keeps on the
// server ("server entries", mailbox 0) and on its mailboxes, such as a
// chat app's push token. Entry names are lower-cased paths beginning
// "/private/" or "/shared/"; values are octets. A mailbox's entries go
// with it (DeleteMailbox), an account's with the account.

// Limits on metadata, per account: RFC 5464 4.3's MAXSIZE and TOOMANY.
const (
	MaxMetadataValue   = 16 << 10
	MaxMetadataEntries = 1000
)

// ErrMetadataTooMany: the account has MaxMetadataEntries entries already.
var ErrMetadataTooMany = fmt.Errorf("too many metadata entries")

func metaKey(acct uint64, mbx MailboxID, entry string) []byte {
	k := make([]byte, 16, 16+len(entry))
	binary.BigEndian.PutUint64(k, acct)
	binary.BigEndian.PutUint64(k[8:], uint64(mbx))
	return append(k, entry...)
}

// MetadataEntry is one entry and its value.
type MetadataEntry struct {
	Name  string
	Value []byte
}

// Metadata returns the entries of an account's mailbox (0: the server's)
// named in names or, with depth 1 or -1 (infinity), below them, ordered.
func (s *Store) Metadata(acct uint64, mbx MailboxID, names []string, depth int) ([]MetadataEntry, error) {
	var out []MetadataEntry
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMetadata)
		for _, n := range names {
			n = strings.ToLower(n)
			if v := b.Get(metaKey(acct, mbx, n)); v != nil {
				out = append(out, MetadataEntry{Name: n, Value: bytes.Clone(v)})
			}
			if depth == 0 {
				continue
			}
			prefix := metaKey(acct, mbx, n+"/")
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				rest := string(k[len(prefix):])
				if depth == 1 && strings.Contains(rest, "/") {
					continue
				}
				out = append(out, MetadataEntry{Name: string(k[16:]), Value: bytes.Clone(v)})
			}
		}
		return nil
	})
	return out, err
}

// SetMetadata sets (a nil value: removes) entries of an account's mailbox
// (0: the server's), all or none.
func (s *Store) SetMetadata(ctx context.Context, acct uint64, mbx MailboxID, entries []MetadataEntry) error {
	return s.update(ctx, func(t *tx) error {
		if mbx != 0 {
			m, err := getMailboxTx(t.Tx, mbx)
			if err != nil {
				return err
			}
			if m.Account != acct {
				return ErrNoMailbox
			}
		}
		b := t.Bucket(bMetadata)
		for _, e := range entries {
			k := metaKey(acct, mbx, strings.ToLower(e.Name))
			if e.Value == nil {
				if err := b.Delete(k); err != nil {
					return err
				}
				continue
			}
			if b.Get(k) == nil && countMetadata(b, acct) >= MaxMetadataEntries {
				return ErrMetadataTooMany
			}
			if err := b.Put(k, e.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

func countMetadata(b *bolt.Bucket, acct uint64) int {
	n := 0
	prefix := be64(acct)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// dropMetadataTx removes the entries of a mailbox.
func dropMetadataTx(t *tx, acct uint64, mbx MailboxID) error {
	return dropPrefixTx(t, metaKey(acct, mbx, ""))
}

// dropPrefixTx removes the metadata entries whose keys begin with prefix
// (be64(account) for all of an account's).
func dropPrefixTx(t *tx, prefix []byte) error {
	c := t.Bucket(bMetadata).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
