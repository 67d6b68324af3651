package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// This file reads the store out whole, as a copy to another backend
// (`petrel store copy`) needs it: with password hashes, UIDs, MODSEQs and
// which messages share their bytes. The store should not be in use by a
// server meanwhile (Open's file lock sees to it).

// AccountDump is an account with its password hash.
type AccountDump struct {
	Account
	Hash string
}

// DumpAccounts returns every account with its hash, ordered by address.
func (s *Store) DumpAccounts() ([]AccountDump, error) {
	var out []AccountDump
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bAccounts).ForEach(func(k, v []byte) error {
			var rec accountRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("account %q: %w", k, err)
			}
			out = append(out, AccountDump{Account{ID: rec.ID, Address: rec.Address, Created: rec.Created}, rec.Hash})
			return nil
		})
	})
	return out, err
}

// MessageDump is one stored message whole. Blob identifies its bytes:
// copies of one delivery (recipients, COPY, MOVE) have the same Blob.
type MessageDump struct {
	Message
	Blob   uint64
	Prefix []byte
	Body   []byte
	Info   []byte // the stored structure (EncodeStructure's form, or the older JSON); nil if lost
}

// DumpMessages calls fn with the messages of mailbox mbx whose UID is
// above after, in UID order, at most limit of them (all when limit <= 0),
// in one read transaction. What fn is given is its own copy.
func (s *Store) DumpMessages(mbx MailboxID, after UID, limit int, fn func(MessageDump) error) error {
	return s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return ErrNoMailbox
		}
		blobs, infos := t.Bucket(bBlobs), t.Bucket(bBlobInfo)
		c := b.Cursor()
		n := 0
		for k, v := c.Seek(be32(uint32(after) + 1)); k != nil; k, v = c.Next() {
			uid := UID(binary.BigEndian.Uint32(k))
			if uid <= after {
				continue // after + 1 wrapped round
			}
			if limit > 0 && n == limit {
				return nil
			}
			rec, err := decodeRecord(v, false)
			if err != nil {
				return fmt.Errorf("message %d/%d: %w", mbx, uid, err)
			}
			body := blobs.Get(be64(rec.Blob))
			if body == nil {
				return fmt.Errorf("message %d/%d: blob %d missing: %w", mbx, uid, rec.Blob, errCorrupt)
			}
			if err := fn(MessageDump{Message: rec.message(uid), Blob: rec.Blob, Prefix: rec.Prefix, Body: bytes.Clone(body),
				Info: bytes.Clone(infos.Get(be64(rec.Blob)))}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}
