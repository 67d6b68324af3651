package store

import (
	"encoding/binary"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The \Deleted index: a key mailbox ID ++ UID in bucket bDeletedIdx for
// every message flagged \Deleted, written in the same transaction as the
// flag, so IMAP's EXPUNGE finds what to remove without reading every
// message of the mailbox.
//
// Invariant: every stored message with \Deleted has its key. A key whose
// message lost the flag or is gone is removed in the same transaction;
// expungeTx checks the flag again anyway. Stores made before the index are
// indexed once at Open (buildDeletedIndex).

var metaDeletedIndex = []byte("deletedidx")

func deletedKey(mbx MailboxID, uid UID) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, uint64(mbx))
	binary.BigEndian.PutUint32(k[8:], uint32(uid))
	return k
}

func hasDeleted(flags []string) bool { return slices.Contains(flags, FlagDeleted) }

// noteDeletedTx keeps message uid's key in step with its flags: was and now
// say whether it had \Deleted before and has it after.
func noteDeletedTx(t *bolt.Tx, mbx MailboxID, uid UID, was, now bool) error {
	switch {
	case now && !was:
		return t.Bucket(bDeletedIdx).Put(deletedKey(mbx, uid), nil)
	case was && !now:
		return t.Bucket(bDeletedIdx).Delete(deletedKey(mbx, uid))
	}
	return nil
}

// deletedUIDsTx returns, ascending, the UIDs of mailbox mbx the index holds.
func deletedUIDsTx(t *bolt.Tx, mbx MailboxID) []UID {
	var out []UID
	c := t.Bucket(bDeletedIdx).Cursor()
	prefix := be64(uint64(mbx))
	for k, _ := c.Seek(prefix); len(k) == 12 && string(k[:8]) == string(prefix); k, _ = c.Next() {
		out = append(out, UID(binary.BigEndian.Uint32(k[8:])))
	}
	return out
}

// dropDeletedTx forgets every key of mailbox mbx (it is being deleted).
func dropDeletedTx(t *bolt.Tx, mbx MailboxID) error { return dropMailboxKeysTx(t, bDeletedIdx, mbx) }

// buildDeletedIndex indexes the \Deleted messages of a store made before
// the index (once: it marks the store done in the same transaction).
func buildDeletedIndex(t *bolt.Tx) error {
	return buildIndexOnce(t, bDeletedIdx, metaDeletedIndex, "\\Deleted", func(mbx MailboxID, uid UID, rec *msgRecord) []byte {
		if !hasDeleted(rec.Flags) {
			return nil
		}
		return deletedKey(mbx, uid)
	})
}
