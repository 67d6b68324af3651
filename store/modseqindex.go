package store

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The MODSEQ index (IMAP CONDSTORE, RFC 7162): for every message, a key
// mailbox ID ++ MODSEQ ++ UID in bucket bModSeqs, written in the same
// transaction as the record it describes, so "which messages changed since
// MODSEQ n" reads only what changed, not every record of the mailbox.
//
// Invariant: every stored message record has its key (mailbox, its
// record's ModSeq, UID). A key may outlive its record's MODSEQ only inside
// the transaction that replaces it; readers check each key against the
// record anyway (ChangedSince), so a stray key costs a lookup, never a
// wrong answer. Stores made before the index are indexed once at Open
// (buildModSeqIndex).

// metaModSeqIndex in bMeta marks a store whose index is complete.
var metaModSeqIndex = []byte("modseqidx")

func modSeqKey(mbx MailboxID, modseq uint64, uid UID) []byte {
	k := make([]byte, 20)
	binary.BigEndian.PutUint64(k, uint64(mbx))
	binary.BigEndian.PutUint64(k[8:], modseq)
	binary.BigEndian.PutUint32(k[16:], uint32(uid))
	return k
}

// indexMsgTx records that message uid of mbx now has MODSEQ modseq, where
// it had old (0: the message is new).
func indexMsgTx(t *bolt.Tx, mbx MailboxID, uid UID, old, modseq uint64) error {
	b := t.Bucket(bModSeqs)
	if old != 0 && old != modseq {
		if err := b.Delete(modSeqKey(mbx, old, uid)); err != nil {
			return err
		}
	}
	return b.Put(modSeqKey(mbx, modseq, uid), nil)
}

// unindexMsgTx forgets message uid of mbx, whose MODSEQ was modseq.
func unindexMsgTx(t *bolt.Tx, mbx MailboxID, uid UID, modseq uint64) error {
	return t.Bucket(bModSeqs).Delete(modSeqKey(mbx, modseq, uid))
}

// dropModSeqsTx forgets every key of mailbox mbx (it is being deleted).
func dropModSeqsTx(t *bolt.Tx, mbx MailboxID) error { return dropMailboxKeysTx(t, bModSeqs, mbx) }

// buildModSeqIndex indexes every message of a store made before the index
// (once: it marks the store done in the same transaction).
func buildModSeqIndex(t *bolt.Tx) error {
	return buildIndexOnce(t, bModSeqs, metaModSeqIndex, "MODSEQs", func(mbx MailboxID, uid UID, rec *msgRecord) []byte {
		return modSeqKey(mbx, rec.ModSeq, uid)
	})
}

// ChangedSince returns, in UID order, the messages of mailbox mbx whose
// MODSEQ is above since (IMAP's CHANGEDSINCE, QRESYNC and SEARCH MODSEQ,
// RFC 7162). It reads the MODSEQ index: its cost grows with the number of
// messages changed, not with the mailbox.
func (s *Store) ChangedSince(mbx MailboxID, since uint64) ([]Message, error) {
	var out []Message
	err := s.view(func(t *bolt.Tx) error {
		msgs := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if msgs == nil {
			return ErrNoMailbox
		}
		c := t.Bucket(bModSeqs).Cursor()
		prefix := be64(uint64(mbx))
		for k, _ := c.Seek(modSeqKey(mbx, since+1, 0)); len(k) == 20 && string(k[:8]) == string(prefix); k, _ = c.Next() {
			modseq := binary.BigEndian.Uint64(k[8:])
			v := msgs.Get(k[16:20])
			if v == nil {
				continue
			}
			rec, err := decodeRecord(v, true)
			if err != nil {
				return err
			}
			if rec.ModSeq != modseq {
				continue // a stray key: the record's own key is the one to count
			}
			out = append(out, rec.message(UID(binary.BigEndian.Uint32(k[16:]))))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("messages changed since %d in mailbox %d: %w", since, mbx, err)
	}
	slices.SortFunc(out, func(a, b Message) int { return cmpUID(a.UID, b.UID) })
	return out, nil
}

func cmpUID(a, b UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
