package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// This file writes into the store what a copy from another backend brings
// (`petrel store copy --to` a bbolt file): accounts, mailboxes and messages
// with the IDs, UIDs, UIDVALIDITY, MODSEQs and shared bytes they had there,
// so that clients need not resynchronise. The counters that give new IDs
// are moved past what is loaded.

// raise sets the named counter to at least v.
func raise(t *bolt.Tx, name string, v uint64) error {
	meta := t.Bucket(bMeta)
	if b := meta.Get([]byte(name)); b != nil && binary.BigEndian.Uint64(b) >= v {
		return nil
	}
	return meta.Put([]byte(name), be64(v))
}

// LoadAccount stores an account as it was elsewhere (ID and password hash
// kept); an account already there with the same ID and address is left as
// it is. It makes no mailboxes: LoadMailbox brings them.
func (s *Store) LoadAccount(ctx context.Context, a AccountDump) error {
	err := s.update(ctx, func(t *tx) error {
		if addr := t.Bucket(bAcctIDs).Get(be64(a.ID)); addr != nil {
			if string(addr) != a.Address {
				return fmt.Errorf("account %d is %s here: %w", a.ID, addr, ErrAccountExists)
			}
			return nil
		}
		if t.Bucket(bAccounts).Get([]byte(a.Address)) != nil {
			return ErrAccountExists
		}
		b, _ := json.Marshal(accountRecord{ID: a.ID, Address: a.Address, Hash: a.Hash, Created: a.Created})
		if err := t.Bucket(bAccounts).Put([]byte(a.Address), b); err != nil {
			return err
		}
		if err := t.Bucket(bAcctIDs).Put(be64(a.ID), []byte(a.Address)); err != nil {
			return err
		}
		return raise(t.Tx, "acct", a.ID)
	})
	if err != nil {
		return fmt.Errorf("load account %s: %w", a.Address, err)
	}
	return nil
}

// LoadMailbox stores a mailbox as it was elsewhere (ID, UIDVALIDITY,
// UIDNEXT, MODSEQ and counts kept: its messages follow with
// LoadMessages); one already there with the same ID is updated.
func (s *Store) LoadMailbox(ctx context.Context, m Mailbox) error {
	err := s.update(ctx, func(t *tx) error {
		if t.Bucket(bAcctIDs).Get(be64(m.Account)) == nil {
			return ErrNoAccount
		}
		if old, err := getMailboxTx(t.Tx, m.ID); err == nil {
			if err := t.Bucket(bMbxNames).Delete(nameKey(old.Account, old.Name)); err != nil {
				return err
			}
		} else if _, err := t.Bucket(bMsgs).CreateBucket(be64(uint64(m.ID))); err != nil {
			return err
		}
		if v := t.Bucket(bMbxNames).Get(nameKey(m.Account, m.Name)); v != nil && binary.BigEndian.Uint64(v) != uint64(m.ID) {
			return ErrMailboxExists
		}
		if err := t.Bucket(bMbxNames).Put(nameKey(m.Account, m.Name), be64(uint64(m.ID))); err != nil {
			return err
		}
		if err := putMailboxTx(t.Tx, &m); err != nil {
			return err
		}
		if err := raise(t.Tx, "mbx", uint64(m.ID)); err != nil {
			return err
		}
		return raise(t.Tx, "uidvalidity", uint64(m.UIDValidity))
	})
	if err != nil {
		return fmt.Errorf("load mailbox %q: %w", m.Name, err)
	}
	return nil
}

// LoadMessages stores messages of mailbox mbx as they were elsewhere (UIDs,
// flags, dates, MODSEQs kept), in one transaction. Messages with the same
// Blob share their bytes, as they did. The mailbox's counts are not
// changed: LoadMailbox brought them.
func (s *Store) LoadMessages(ctx context.Context, mbx MailboxID, msgs []MessageDump) error {
	err := s.update(ctx, func(t *tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return ErrNoMailbox
		}
		mb, err := getMailboxTx(t.Tx, mbx)
		if err != nil {
			return err
		}
		var size, n int64
		for _, m := range msgs {
			if b.Get(be32(uint32(m.UID))) != nil {
				continue // loaded by an earlier run
			}
			k := be64(m.Blob)
			if t.Bucket(bBlobs).Get(k) != nil {
				if err := refBlob(t.Tx, m.Blob); err != nil {
					return err
				}
			} else {
				info := m.Info
				if info == nil {
					info = encodeStructure(ParseStructure(m.Body))
				}
				if err := t.Bucket(bBlobs).Put(k, m.Body); err != nil {
					return err
				}
				if err := t.Bucket(bBlobInfo).Put(k, info); err != nil {
					return err
				}
				if err := t.Bucket(bBlobRefs).Put(k, be64(1)); err != nil {
					return err
				}
				if err := raise(t.Tx, "blob", m.Blob); err != nil {
					return err
				}
			}
			rec := msgRecord{Blob: m.Blob, Date: m.InternalDate.UnixNano(), Size: m.Size, ModSeq: m.ModSeq, Flags: m.Flags, Prefix: m.Prefix}
			if !m.SaveDate.IsZero() {
				rec.Saved = m.SaveDate.Unix()
			}
			if err := b.Put(be32(uint32(m.UID)), rec.encode()); err != nil {
				return err
			}
			if err := indexMsgTx(t.Tx, mbx, m.UID, 0, m.ModSeq); err != nil {
				return err
			}
			if err := noteDeletedTx(t.Tx, mbx, m.UID, false, hasDeleted(rec.Flags)); err != nil {
				return err
			}
			size += m.Size
			n++
		}
		return addUsageTx(t.Tx, mb.Account, size, n)
	})
	if err != nil {
		return fmt.Errorf("load messages into mailbox %d: %w", mbx, err)
	}
	return nil
}

// LastUID is the highest UID stored in a mailbox, 0 for none: where a
// resumed copy goes on.
func (s *Store) LastUID(mbx MailboxID) (UID, error) {
	var last UID
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return ErrNoMailbox
		}
		if k, _ := b.Cursor().Last(); k != nil {
			last = UID(binary.BigEndian.Uint32(k))
		}
		return nil
	})
	return last, err
}
