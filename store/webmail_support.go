package store

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Page returns at most n messages of a mailbox next to anchor, newest
// (highest UID) first: with older, those with a UID below anchor (0 means
// from the newest); without, those with a UID above anchor, the n closest
// to it. It walks a cursor over the n records it returns and no others,
// so one page of a 100,000-message mailbox costs what one of ten does
// (the web mail's message list).
func (s *Store) Page(mbx MailboxID, anchor UID, n int, older bool) ([]Message, error) {
	out := make([]Message, 0, min(max(n, 0), 1000))
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return ErrNoMailbox
		}
		if n <= 0 {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		step := c.Prev
		switch {
		case older && anchor == 0:
			k, v = c.Last()
		case older:
			k, _ = c.Seek(be32(uint32(anchor)))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		default:
			k, v = c.Seek(be32(uint32(anchor) + 1))
			step = c.Next
		}
		for ; k != nil && len(out) < n; k, v = step() {
			uid := UID(binary.BigEndian.Uint32(k))
			if older && anchor != 0 && uid >= anchor {
				continue
			}
			rec, err := decodeRecord(v, true)
			if err != nil {
				return err
			}
			out = append(out, rec.message(uid))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !older {
		slices.Reverse(out)
	}
	return out, nil
}

// AliasesOf returns the aliases (not catch-alls) that name address itself
// among their targets, ordered by address: the addresses its owner may
// send as besides its own (the submission sender check, the web mail's
// From). An alias reaching it only through another alias does not count.
func (s *Store) AliasesOf(address string) ([]string, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	var out []string
	err = s.view(func(t *bolt.Tx) error {
		return t.Bucket(bAliases).ForEach(func(k, v []byte) error {
			if len(k) > 0 && k[0] == '@' {
				return nil
			}
			var rec aliasRecord
			if json.Unmarshal(v, &rec) != nil {
				return nil
			}
			for _, tg := range rec.Targets {
				if strings.EqualFold(tg, addr) {
					out = append(out, rec.Address)
					break
				}
			}
			return nil
		})
	})
	return out, err
}
