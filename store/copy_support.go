package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// What `petrel store copy` carries besides accounts, mailboxes and
// messages (dump.go, load.go): the expunged-UID history of each mailbox
// (so that QRESYNC clients need not resynchronise), mailing lists with
// their members as they are (bounce days and all), and the junk models
// with how each stored message was trained.

// VanishedEntry is one UID expunged from a mailbox, and the MODSEQ its
// expunge gave the mailbox.
type VanishedEntry struct {
	ModSeq uint64
	UID    UID
}

// DumpVanished returns the expunged-UID history of a mailbox, in MODSEQ
// order.
func (s *Store) DumpVanished(mbx MailboxID) ([]VanishedEntry, error) {
	var out []VanishedEntry
	err := s.view(func(t *bolt.Tx) error {
		c := t.Bucket(bVanished).Cursor()
		prefix := be64(uint64(mbx))
		for k, _ := c.Seek(prefix); len(k) == 20 && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, VanishedEntry{ModSeq: binary.BigEndian.Uint64(k[8:]), UID: UID(binary.BigEndian.Uint32(k[16:]))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump vanished of mailbox %d: %w", mbx, err)
	}
	return out, nil
}

// LoadVanished adds entries to a mailbox's expunged-UID history (those
// already there stay).
func (s *Store) LoadVanished(ctx context.Context, mbx MailboxID, entries []VanishedEntry) error {
	err := s.update(ctx, func(t *tx) error {
		if _, err := getMailboxTx(t.Tx, mbx); err != nil {
			return err
		}
		b := t.Bucket(bVanished)
		for _, e := range entries {
			if err := b.Put(vanishedKey(mbx, e.ModSeq, e.UID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load vanished of mailbox %d: %w", mbx, err)
	}
	return nil
}

// LoadList stores a list and its members as they were elsewhere (dates,
// disabled members and bounce days kept), replacing the list of that
// address and its members if there is one.
func (s *Store) LoadList(ctx context.Context, l List, members []Member) error {
	if err := normalizeList(&l); err != nil {
		return err
	}
	err := s.update(ctx, func(t *tx) error {
		if _, ok := getListTx(t.Tx, l.Address); !ok {
			for _, a := range []string{l.Address, BounceAddress(l.Address)} {
				if err := addressFreeTx(t.Tx, a, true); err != nil {
					return err
				}
			}
		}
		if err := putListTx(t.Tx, l); err != nil {
			return err
		}
		mb := t.Bucket(bMembers)
		prefix := memberPrefix(l.Address)
		var old [][]byte
		c := mb.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			old = append(old, slices.Clone(k))
		}
		for _, k := range old {
			if err := mb.Delete(k); err != nil {
				return err
			}
		}
		for _, m := range members {
			if err := putMemberTx(t.Tx, l.Address, memberRecord(m)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load list %s: %w", l.Address, err)
	}
	return nil
}

// JunkDump is one junk model as it is stored: its totals, its tokens by
// key (JunkTokenKey), its trusted senders and the messages trained from
// outside the store, by ID.
type JunkDump struct {
	Account  uint64 // SharedJunkModel: the shared model
	Stats    JunkStats
	Tokens   []JunkTokenDump
	Contacts []string
	Samples  []JunkSampleDump
}

// JunkTokenDump is one token of a model.
type JunkTokenDump struct {
	Key uint64
	JunkCounts
}

// JunkSampleDump is one message trained from outside the store.
type JunkSampleDump struct {
	ID    []byte
	Class JunkClass
}

// JunkMsgDump says how a stored message (by its blob) was trained in an
// account's model.
type JunkMsgDump struct {
	Blob, Account uint64
	Class         JunkClass
}

// JunkModels returns the accounts that have a junk model (0 for the
// shared one), ascending.
func (s *Store) JunkModels() ([]uint64, error) {
	var out []uint64
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bJunk).ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				out = append(out, binary.BigEndian.Uint64(k))
			}
			return nil
		})
	})
	return out, err
}

// DumpJunk returns acct's model; nil if it has none.
func (s *Store) DumpJunk(acct uint64) (*JunkDump, error) {
	var d *JunkDump
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bJunk).Bucket(be64(acct))
		if b == nil {
			return nil
		}
		d = &JunkDump{Account: acct, Stats: decodeJunkStats(b.Get([]byte("n")))}
		if tb := b.Bucket([]byte("t")); tb != nil {
			tb.ForEach(func(k, v []byte) error {
				if len(k) == 8 {
					d.Tokens = append(d.Tokens, JunkTokenDump{Key: binary.BigEndian.Uint64(k), JunkCounts: decodeJunkCounts(v)})
				}
				return nil
			})
		}
		if cb := b.Bucket([]byte("c")); cb != nil {
			cb.ForEach(func(k, _ []byte) error {
				d.Contacts = append(d.Contacts, string(k))
				return nil
			})
		}
		if hb := b.Bucket([]byte("h")); hb != nil {
			hb.ForEach(func(k, v []byte) error {
				if len(v) == 1 {
					d.Samples = append(d.Samples, JunkSampleDump{ID: bytes.Clone(k), Class: JunkClass(v[0])})
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump junk model %d: %w", acct, err)
	}
	return d, nil
}

// LoadJunk stores a model as it was elsewhere, replacing the account's.
func (s *Store) LoadJunk(ctx context.Context, d *JunkDump) error {
	err := s.update(ctx, func(t *tx) error {
		if d.Account != SharedJunkModel && t.Bucket(bAcctIDs).Get(be64(d.Account)) == nil {
			return ErrNoAccount
		}
		if err := deleteJunkModelTx(t.Tx, d.Account); err != nil {
			return err
		}
		m, err := openJunkModel(t.Tx, d.Account)
		if err != nil {
			return err
		}
		m.st = d.Stats
		for _, tk := range d.Tokens {
			v := binary.AppendUvarint(nil, uint64(tk.Spam))
			if err := m.toks.Put(be64(tk.Key), binary.AppendUvarint(v, uint64(tk.Ham))); err != nil {
				return err
			}
		}
		if len(d.Contacts) > 0 {
			cb, err := m.b.CreateBucketIfNotExists([]byte("c"))
			if err != nil {
				return err
			}
			for _, c := range d.Contacts {
				if err := cb.Put([]byte(c), []byte{}); err != nil {
					return err
				}
			}
		}
		if len(d.Samples) > 0 {
			hb, err := m.b.CreateBucketIfNotExists([]byte("h"))
			if err != nil {
				return err
			}
			for _, sm := range d.Samples {
				if err := hb.Put(bytes.Clone(sm.ID), []byte{byte(sm.Class)}); err != nil {
					return err
				}
			}
		}
		return m.save()
	})
	if err != nil {
		return fmt.Errorf("load junk model %d: %w", d.Account, err)
	}
	return nil
}

// DumpJunkMsgs returns how every stored message was trained, by blob and
// account.
func (s *Store) DumpJunkMsgs() ([]JunkMsgDump, error) {
	var out []JunkMsgDump
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bJunkMsgs).ForEach(func(k, v []byte) error {
			if len(k) == 16 && len(v) == 1 {
				out = append(out, JunkMsgDump{Blob: binary.BigEndian.Uint64(k), Account: binary.BigEndian.Uint64(k[8:]), Class: JunkClass(v[0])})
			}
			return nil
		})
	})
	return out, err
}

// LoadJunkMsgs records how stored messages were trained; an entry whose
// blob is not here (its messages gone) is skipped.
func (s *Store) LoadJunkMsgs(ctx context.Context, msgs []JunkMsgDump) error {
	err := s.update(ctx, func(t *tx) error {
		b := t.Bucket(bJunkMsgs)
		for _, m := range msgs {
			if t.Bucket(bBlobs).Get(be64(m.Blob)) == nil {
				continue
			}
			if err := b.Put(junkMsgKey(m.Blob, m.Account), []byte{byte(m.Class)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load junk training states: %w", err)
	}
	return nil
}
