package store

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The expunged-UID history (IMAP QRESYNC, RFC 7162 3.2): every expunge
// records its UIDs under the MODSEQ it gave the mailbox, in the same
// transaction, so "what vanished since MODSEQ n" is exact after a crash.
// The history of a mailbox goes with it.

func vanishedKey(mbx MailboxID, modseq uint64, uid UID) []byte {
	k := make([]byte, 20)
	binary.BigEndian.PutUint64(k, uint64(mbx))
	binary.BigEndian.PutUint64(k[8:], modseq)
	binary.BigEndian.PutUint32(k[16:], uint32(uid))
	return k
}

func putVanishedTx(t *tx, mbx MailboxID, modseq uint64, uids []UID) error {
	b := t.Bucket(bVanished)
	for _, u := range uids {
		if err := b.Put(vanishedKey(mbx, modseq, u), nil); err != nil {
			return err
		}
	}
	return nil
}

func dropVanishedTx(t *tx, mbx MailboxID) error {
	c := t.Bucket(bVanished).Cursor()
	prefix := be64(uint64(mbx))
	for k, _ := c.Seek(prefix); len(k) == 20 && string(k[:8]) == string(prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Vanished returns, ascending, the UIDs expunged from mailbox mbx with a
// MODSEQ above since.
func (s *Store) Vanished(mbx MailboxID, since uint64) ([]UID, error) {
	var out []UID
	err := s.view(func(t *bolt.Tx) error {
		c := t.Bucket(bVanished).Cursor()
		prefix := be64(uint64(mbx))
		for k, _ := c.Seek(vanishedKey(mbx, since+1, 0)); len(k) == 20 && string(k[:8]) == string(prefix); k, _ = c.Next() {
			out = append(out, UID(binary.BigEndian.Uint32(k[16:])))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vanished since %d in mailbox %d: %w", since, mbx, err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
