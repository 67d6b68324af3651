package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The store's per-message indexes (modseqindex.go, deletedindex.go) share
// their shape: keys that begin with the mailbox ID, dropped with the
// mailbox, and built once at Open for a store made before the index.

// dropMailboxKeysTx deletes every key of bucket that begins with mailbox
// mbx's ID (the mailbox is being deleted).
func dropMailboxKeysTx(t *bolt.Tx, bucket []byte, mbx MailboxID) error {
	c := t.Bucket(bucket).Cursor()
	prefix := be64(uint64(mbx))
	for k, _ := c.Seek(prefix); len(k) >= 8 && string(k[:8]) == string(prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// buildIndexOnce puts into bucket the key that key returns (nil: none)
// for every message of the store, unless meta's done key says it was built,
// and sets done in the same transaction.
func buildIndexOnce(t *bolt.Tx, bucket, done []byte, what string, key func(mbx MailboxID, uid UID, rec *msgRecord) []byte) error {
	meta := t.Bucket(bMeta)
	if meta.Get(done) != nil {
		return nil
	}
	idx := t.Bucket(bucket)
	msgs := t.Bucket(bMsgs)
	err := msgs.ForEachBucket(func(mk []byte) error {
		mbx := MailboxID(binary.BigEndian.Uint64(mk))
		return msgs.Bucket(mk).ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(v, true)
			if err != nil {
				return fmt.Errorf("mailbox %d message %x: %w", mbx, k, err)
			}
			if ik := key(mbx, UID(binary.BigEndian.Uint32(k)), &rec); ik != nil {
				return idx.Put(ik, nil)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("index %s: %w", what, err)
	}
	return meta.Put(done, []byte{1})
}
