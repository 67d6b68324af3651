package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ReadContents is ReadContent for many messages of one mailbox in a single
// read transaction: fn is called with each of uids that still exists, in
// the order given (missing UIDs are skipped). It is what IMAP's SEARCH and
// FETCH of ENVELOPE or BODYSTRUCTURE over a whole mailbox use, where one
// transaction per message would cost more than the work itself.
//
// As with ReadContent, c is valid only during its call: copy what you keep,
// and never write to the network from fn. Keep uids short (a few hundred)
// so the transaction stays short.
func (s *Store) ReadContents(mbx MailboxID, uids []UID, fn func(uid UID, c *Content, structure *Part) error) error {
	return s.eachContent(mbx, uids, func(_ *bolt.Bucket, cc *contentCursor, uid UID, rec msgRecord, c *Content) error {
		binary.BigEndian.PutUint64(cc.key[:], rec.Blob)
		part, err := structureOf(cc.get(cc.infos, cc.key[:]), c)
		if err != nil {
			return fmt.Errorf("message %d/%d: %w", mbx, uid, err)
		}
		return fn(uid, c, part)
	})
}

// ReadHeaders is ReadContents for readers of the top header only (SEARCH
// by header field): fn gets the offset where the message's body starts
// (after the blank line that ends its header, prefix included), read from
// the front of the stored structure without decoding the rest of it.
func (s *Store) ReadHeaders(mbx MailboxID, uids []UID, fn func(uid UID, c *Content, bodyStart int64) error) error {
	return s.eachContent(mbx, uids, func(infos *bolt.Bucket, cc *contentCursor, uid UID, rec msgRecord, c *Content) error {
		binary.BigEndian.PutUint64(cc.key[:], rec.Blob)
		start, ok := structureBodyStart(cc.get(cc.infos, cc.key[:]))
		if !ok {
			p, err := structureTx(infos, rec, c)
			if err != nil {
				return fmt.Errorf("message %d/%d: %w", mbx, uid, err)
			}
			start = p.BodyStart - int64(len(c.Prefix))
		}
		return fn(uid, c, start+int64(len(c.Prefix)))
	})
}

// eachContent calls fn, in one read transaction, for each of uids that
// still exists, in order: the mailbox's bucket is opened, and the cursors
// made, once for all of them.
func (s *Store) eachContent(mbx MailboxID, uids []UID, fn func(infos *bolt.Bucket, cc *contentCursor, uid UID, rec msgRecord, c *Content) error) error {
	return s.view(func(t *bolt.Tx) error {
		if len(uids) == 0 {
			return nil
		}
		msgs := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if msgs == nil {
			return ErrNoMailbox
		}
		cc, infos := newContentCursor(msgs, t.Bucket(bBlobs)), t.Bucket(bBlobInfo)
		cc.infos = infos.Cursor()
		cc.flags = newFlagSlab(len(uids))
		for _, uid := range uids {
			rec, c, err := cc.content(mbx, uid)
			if err == ErrNoMessage {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(infos, cc, uid, rec, c); err != nil {
				return err
			}
		}
		return nil
	})
}
