package store

import (
	"bytes"
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

// ReadEnvelopes calls fn, in one read transaction, with the envelope of
// each of uids that still exists, in the order given (missing UIDs are
// skipped): IMAP's FETCH ENVELOPE. It reads only the front of each stored
// structure, neither the message nor its other parts. env is the caller's
// to keep; nil for a message without one.
func (s *Store) ReadEnvelopes(mbx MailboxID, uids []UID, fn func(uid UID, env *Envelope) error) error {
	return s.view(func(t *bolt.Tx) error {
		if len(uids) == 0 {
			return nil
		}
		msgs := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if msgs == nil {
			return ErrNoMailbox
		}
		infos := t.Bucket(bBlobInfo)
		mc, ic := uidCursor{c: msgs.Cursor()}, infos.Cursor()
		var key [8]byte
		for _, uid := range uids {
			v := mc.get(uid)
			if v == nil {
				continue
			}
			blob, n := binary.Uvarint(v) // a record starts with its blob
			if n <= 0 {
				return fmt.Errorf("message %d/%d: %w", mbx, uid, errCorrupt)
			}
			binary.BigEndian.PutUint64(key[:], blob)
			k, info := ic.Seek(key[:])
			if !bytes.Equal(k, key[:]) {
				info = nil
			}
			env, ok, err := decodeEnvelope(info)
			if err != nil {
				return fmt.Errorf("message %d/%d: structure: %w", mbx, uid, err)
			}
			if !ok { // no binary structure: the whole one, as ReadContents reads it
				rec, c, err := contentIn(msgs, t.Bucket(bBlobs), mbx, uid)
				if err != nil {
					return err
				}
				p, err := structureTx(infos, rec, c)
				if err != nil {
					return fmt.Errorf("message %d/%d: %w", mbx, uid, err)
				}
				env = p.Envelope
			}
			if err := fn(uid, env); err != nil {
				return err
			}
		}
		return nil
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
