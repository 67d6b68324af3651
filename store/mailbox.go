package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// MailboxID identifies a mailbox for its whole life; a new mailbox of the
// same name gets a new ID.
type MailboxID uint64

// Separator is the hierarchy separator of mailbox names.
const Separator = '/'

// Mailbox is a mailbox's state. Counts are kept up to date by every write,
// so STATUS costs one read.
type Mailbox struct {
	ID          MailboxID `json:"id"`
	Account     uint64    `json:"account"`
	Name        string    `json:"name"`
	SpecialUse  string    `json:"special_use,omitempty"`
	UIDValidity uint32    `json:"uidvalidity"`
	UIDNext     UID       `json:"uidnext"`
	ModSeq      uint64    `json:"modseq"`
	Subscribed  bool      `json:"subscribed"`
	Messages    uint32    `json:"messages"`
	Unseen      uint32    `json:"unseen"`
	Deleted     uint32    `json:"deleted"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
}

// NormalizeMailboxName checks a mailbox name and returns its canonical form:
// INBOX (and INBOX/…) in any case becomes "INBOX".
func NormalizeMailboxName(name string) (string, error) {
	if name == "" || len(name) > 1000 || !utf8.ValidString(name) {
		return "", ErrBadName
	}
	if name[0] == Separator || name[len(name)-1] == Separator || strings.Contains(name, "//") {
		return "", ErrBadName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", ErrBadName
		}
	}
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:], nil
	}
	return name, nil
}

func nameKey(acct uint64, name string) []byte {
	k := make([]byte, 8, 8+len(name))
	binary.BigEndian.PutUint64(k, acct)
	return append(k, name...)
}

// Mailboxes lists an account's mailboxes, ordered by name.
func (s *Store) Mailboxes(acct uint64) ([]Mailbox, error) {
	var out []Mailbox
	err := s.view(func(t *bolt.Tx) error {
		prefix := be64(acct)
		c := t.Bucket(bMbxNames).Cursor()
		mc := t.Bucket(bMailboxes).Cursor()
		for k, v := c.Seek(prefix); len(k) >= 8 && string(k[:8]) == string(prefix); k, v = c.Next() {
			m, err := mailboxAt(mc, MailboxID(binary.BigEndian.Uint64(v)))
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Mailbox) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// MailboxByName finds an account's mailbox by name (INBOX case-insensitive).
func (s *Store) MailboxByName(acct uint64, name string) (*Mailbox, error) {
	n, err := NormalizeMailboxName(name)
	if err != nil {
		return nil, ErrNoMailbox
	}
	var m Mailbox
	err = s.view(func(t *bolt.Tx) error {
		var err error
		m, err = mailboxByNameTx(t, acct, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// MailboxByID returns a mailbox's current state.
func (s *Store) MailboxByID(id MailboxID) (*Mailbox, error) {
	var m Mailbox
	err := s.view(func(t *bolt.Tx) error {
		var err error
		m, err = getMailboxTx(t, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// CreateMailbox makes a mailbox, and any missing parents (RFC 3501 6.3.3),
// subscribed. specialUse is "" or one of the RFC 6154 attributes.
func (s *Store) CreateMailbox(ctx context.Context, acct uint64, name, specialUse string) (*Mailbox, error) {
	return s.CreateMailboxSubscribed(ctx, acct, name, specialUse, true)
}

// CreateMailboxSubscribed is CreateMailbox that subscribes the mailbox
// and the parents it makes only if subscribed is true; a name subscribed
// before it was a mailbox (or while it was deleted) stays subscribed.
// IMAP's CREATE uses it: subscriptions are the client's (RFC 9051 6.3.4).
func (s *Store) CreateMailboxSubscribed(ctx context.Context, acct uint64, name, specialUse string, subscribed bool) (*Mailbox, error) {
	n, err := NormalizeMailboxName(name)
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	switch specialUse {
	case "", `\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`:
	default:
		return nil, fmt.Errorf("create mailbox %q: unknown special-use attribute %q", name, specialUse)
	}
	var m Mailbox
	err = s.update(ctx, func(t *tx) error {
		if t.Bucket(bAcctIDs).Get(be64(acct)) == nil {
			return ErrNoAccount
		}
		if _, err := mailboxByNameTx(t.Tx, acct, n); err == nil {
			return ErrMailboxExists
		}
		parts := strings.Split(n, string(Separator))
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], string(Separator))
			if _, err := mailboxByNameTx(t.Tx, acct, parent); err == ErrNoMailbox {
				pm, err := createMailboxTx(t, acct, parent, "")
				if err != nil {
					return err
				}
				if err := subscribeNewTx(t, &pm, subscribed); err != nil {
					return err
				}
			}
		}
		var err error
		if m, err = createMailboxTx(t, acct, n, specialUse); err != nil {
			return err
		}
		return subscribeNewTx(t, &m, subscribed)
	})
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", n, err)
	}
	return &m, nil
}

func createMailboxTx(t *tx, acct uint64, name, specialUse string) (Mailbox, error) {
	m := Mailbox{
		ID:          MailboxID(nextID(t.Tx, "mbx")),
		Account:     acct,
		Name:        name,
		SpecialUse:  specialUse,
		UIDValidity: uint32(nextID(t.Tx, "uidvalidity")),
		UIDNext:     1,
		ModSeq:      1,
		Subscribed:  true,
		Created:     time.Now().UTC().Truncate(time.Second),
	}
	if err := t.Bucket(bMbxNames).Put(nameKey(acct, name), be64(uint64(m.ID))); err != nil {
		return m, err
	}
	if _, err := t.Bucket(bMsgs).CreateBucket(be64(uint64(m.ID))); err != nil {
		return m, err
	}
	return m, putMailboxTx(t.Tx, &m)
}

// DeleteMailbox deletes a mailbox and its messages. Its children, if any,
// stay (RFC 9051 6.3.4). INBOX cannot be deleted.
func (s *Store) DeleteMailbox(ctx context.Context, acct uint64, name string) error {
	n, err := NormalizeMailboxName(name)
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", name, ErrNoMailbox)
	}
	if n == "INBOX" {
		return fmt.Errorf("delete mailbox: %w", ErrInboxProtected)
	}
	err = s.update(ctx, func(t *tx) error {
		m, err := mailboxByNameTx(t.Tx, acct, n)
		if err != nil {
			return err
		}
		return deleteMailboxTx(t, m.ID)
	})
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", n, err)
	}
	return nil
}

func deleteMailboxTx(t *tx, id MailboxID) error {
	m, err := getMailboxTx(t.Tx, id)
	if err != nil {
		return err
	}
	msgs := t.Bucket(bMsgs).Bucket(be64(uint64(id)))
	if msgs != nil {
		var size, n int64
		err := msgs.ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(v, true)
			if err != nil {
				return err
			}
			size += rec.Size
			n++
			return unrefBlob(t.Tx, rec.Blob)
		})
		if err != nil {
			return err
		}
		if err := addUsageTx(t.Tx, m.Account, -size, -n); err != nil {
			return err
		}
		if err := t.Bucket(bMsgs).DeleteBucket(be64(uint64(id))); err != nil {
			return err
		}
	}
	if err := t.Bucket(bMbxNames).Delete(nameKey(m.Account, m.Name)); err != nil {
		return err
	}
	if err := dropVanishedTx(t, id); err != nil {
		return err
	}
	if err := dropModSeqsTx(t.Tx, id); err != nil {
		return err
	}
	if err := dropDeletedTx(t.Tx, id); err != nil {
		return err
	}
	if err := dropMetadataTx(t, m.Account, id); err != nil {
		return err
	}
	if m.Subscribed {
		// The subscription outlives the mailbox (RFC 9051 6.3.4, 6.3.7).
		if err := t.Bucket(bSubs).Put(nameKey(m.Account, m.Name), nil); err != nil {
			return err
		}
	}
	if err := t.Bucket(bMailboxes).Delete(be64(uint64(id))); err != nil {
		return err
	}
	t.emit(Event{Kind: EventMailboxDeleted, Mailbox: id, ModSeq: m.ModSeq + 1})
	return nil
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves
// its messages into a new mailbox of the new name and leaves INBOX empty
// (RFC 3501 6.3.5).
func (s *Store) RenameMailbox(ctx context.Context, acct uint64, oldName, newName string) error {
	from, err := NormalizeMailboxName(oldName)
	if err != nil {
		return fmt.Errorf("rename mailbox %q: %w", oldName, ErrNoMailbox)
	}
	to, err := NormalizeMailboxName(newName)
	if err != nil {
		return fmt.Errorf("rename mailbox to %q: %w", newName, err)
	}
	err = s.update(ctx, func(t *tx) error {
		src, err := mailboxByNameTx(t.Tx, acct, from)
		if err != nil {
			return err
		}
		if _, err := mailboxByNameTx(t.Tx, acct, to); err == nil {
			return ErrMailboxExists
		}
		if to == from || strings.HasPrefix(to, from+string(Separator)) {
			return ErrBadName
		}
		if from == "INBOX" {
			dst, err := createMailboxTx(t, acct, to, "")
			if err != nil {
				return err
			}
			var uids []UID
			t.Bucket(bMsgs).Bucket(be64(uint64(src.ID))).ForEach(func(k, _ []byte) error {
				uids = append(uids, UID(binary.BigEndian.Uint32(k)))
				return nil
			})
			_, _, err = copyTx(t, src.ID, uids, dst.ID, true)
			return err
		}
		// Make missing parents of the new name.
		parts := strings.Split(to, string(Separator))
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], string(Separator))
			if parent == from {
				continue
			}
			if _, err := mailboxByNameTx(t.Tx, acct, parent); err == ErrNoMailbox {
				if _, err := createMailboxTx(t, acct, parent, ""); err != nil {
					return err
				}
			}
		}
		// The mailbox and every child keep their IDs, UIDs and UIDVALIDITY.
		var renames []Mailbox
		prefix := nameKey(acct, from+string(Separator))
		c := t.Bucket(bMbxNames).Cursor()
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			m, err := getMailboxTx(t.Tx, MailboxID(binary.BigEndian.Uint64(v)))
			if err != nil {
				return err
			}
			renames = append(renames, m)
		}
		renames = append(renames, src)
		for _, m := range renames {
			newN := to + strings.TrimPrefix(m.Name, from)
			if _, err := mailboxByNameTx(t.Tx, acct, newN); err == nil {
				return ErrMailboxExists
			}
			if err := t.Bucket(bMbxNames).Delete(nameKey(acct, m.Name)); err != nil {
				return err
			}
			m.Name = newN
			if err := t.Bucket(bMbxNames).Put(nameKey(acct, newN), be64(uint64(m.ID))); err != nil {
				return err
			}
			if err := putMailboxTx(t.Tx, &m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename mailbox %q to %q: %w", from, to, err)
	}
	return nil
}

// SetSubscribed sets a mailbox's subscribed state (LSUB, LIST (SUBSCRIBED)).
func (s *Store) SetSubscribed(ctx context.Context, acct uint64, name string, subscribed bool) error {
	n, err := NormalizeMailboxName(name)
	if err != nil {
		return ErrNoMailbox
	}
	return s.update(ctx, func(t *tx) error {
		m, err := mailboxByNameTx(t.Tx, acct, n)
		if err == ErrNoMailbox {
			// A name that is no mailbox can be subscribed too (RFC 9051
			// 6.3.7); unsubscribing one that is not subscribed fails.
			k := nameKey(acct, n)
			if subscribed {
				return t.Bucket(bSubs).Put(k, nil)
			}
			if t.Bucket(bSubs).Get(k) == nil {
				return ErrNoMailbox
			}
			return t.Bucket(bSubs).Delete(k)
		}
		if err != nil {
			return err
		}
		m.Subscribed = subscribed
		return putMailboxTx(t.Tx, &m)
	})
}

// subscribeNewTx sets a new mailbox's subscription: subscribed, or as its
// name was subscribed before it existed.
func subscribeNewTx(t *tx, m *Mailbox, subscribed bool) error {
	k := nameKey(m.Account, m.Name)
	had := t.Bucket(bSubs).Get(k) != nil
	if had {
		if err := t.Bucket(bSubs).Delete(k); err != nil {
			return err
		}
	}
	if m.Subscribed == (subscribed || had) {
		return nil
	}
	m.Subscribed = subscribed || had
	return putMailboxTx(t.Tx, m)
}

// Subscriptions lists the subscribed names of an account that are no
// mailbox (deleted, or subscribed before they were made), ordered; a
// mailbox's own subscription is Mailbox.Subscribed.
func (s *Store) Subscriptions(acct uint64) ([]string, error) {
	var out []string
	err := s.view(func(t *bolt.Tx) error {
		prefix := be64(acct)
		c := t.Bucket(bSubs).Cursor()
		for k, _ := c.Seek(prefix); len(k) >= 8 && string(k[:8]) == string(prefix); k, _ = c.Next() {
			out = append(out, string(k[8:]))
		}
		return nil
	})
	return out, err
}

func mailboxByNameTx(t *bolt.Tx, acct uint64, name string) (Mailbox, error) {
	v := t.Bucket(bMbxNames).Get(nameKey(acct, name))
	if v == nil {
		return Mailbox{}, ErrNoMailbox
	}
	return getMailboxTx(t, MailboxID(binary.BigEndian.Uint64(v)))
}

func getMailboxTx(t *bolt.Tx, id MailboxID) (Mailbox, error) {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(id))
	return decodeMailbox(id, t.Bucket(bMailboxes).Get(key[:]))
}

// mailboxAt is getMailboxTx through c, a cursor over bMailboxes reused
// for reading many.
func mailboxAt(c *bolt.Cursor, id MailboxID) (Mailbox, error) {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(id))
	k, v := c.Seek(key[:])
	if !bytes.Equal(k, key[:]) {
		v = nil
	}
	return decodeMailbox(id, v)
}

// decodeMailbox decodes mailbox id's record v (nil: there is none).
func decodeMailbox(id MailboxID, v []byte) (Mailbox, error) {
	var m Mailbox
	if v == nil {
		return m, ErrNoMailbox
	}
	if err := m.decode(v); err != nil {
		return m, fmt.Errorf("mailbox %d: %w", id, err)
	}
	return m, nil
}

func putMailboxTx(t *bolt.Tx, m *Mailbox) error {
	return t.Bucket(bMailboxes).Put(be64(uint64(m.ID)), m.encode())
}

// mailboxRecordV1 starts a mailbox record in the binary form; records
// written before it are JSON (they start with '{') and are still read.
// Every write, one per change to the mailbox, re-encodes the record, and
// STATUS and each write decode it: JSON cost more than the change itself.
const mailboxRecordV1 = 1

func (m *Mailbox) encode() []byte {
	b := make([]byte, 0, 64+len(m.Name)+len(m.SpecialUse))
	b = append(b, mailboxRecordV1)
	b = binary.AppendUvarint(b, uint64(m.ID))
	b = binary.AppendUvarint(b, m.Account)
	b = binary.AppendUvarint(b, uint64(len(m.Name)))
	b = append(b, m.Name...)
	b = binary.AppendUvarint(b, uint64(len(m.SpecialUse)))
	b = append(b, m.SpecialUse...)
	b = binary.AppendUvarint(b, uint64(m.UIDValidity))
	b = binary.AppendUvarint(b, uint64(m.UIDNext))
	b = binary.AppendUvarint(b, m.ModSeq)
	sub := uint64(0)
	if m.Subscribed {
		sub = 1
	}
	b = binary.AppendUvarint(b, sub)
	b = binary.AppendUvarint(b, uint64(m.Messages))
	b = binary.AppendUvarint(b, uint64(m.Unseen))
	b = binary.AppendUvarint(b, uint64(m.Deleted))
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendVarint(b, m.Created.Unix())
	return b
}

func (m *Mailbox) decode(v []byte) error {
	if len(v) > 0 && v[0] == '{' {
		var j Mailbox // apart, so that m does not escape to the heap
		err := json.Unmarshal(v, &j)
		*m = j
		return err
	}
	if len(v) == 0 || v[0] != mailboxRecordV1 {
		return errCorrupt
	}
	n := 1
	uv := func() uint64 {
		if n < 0 {
			return 0
		}
		x, k := binary.Uvarint(v[n:])
		if k <= 0 {
			n = -1
			return 0
		}
		n += k
		return x
	}
	var all string // v as a string, made once for the strings to share
	str := func() string {
		l := uv()
		if n < 0 || l > uint64(len(v)-n) {
			n = -1
			return ""
		}
		if l == 0 {
			return ""
		}
		if all == "" {
			all = string(v)
		}
		s := all[n : n+int(l)]
		n += int(l)
		return s
	}
	sv := func() int64 {
		if n < 0 {
			return 0
		}
		x, k := binary.Varint(v[n:])
		if k <= 0 {
			n = -1
			return 0
		}
		n += k
		return x
	}
	m.ID = MailboxID(uv())
	m.Account = uv()
	m.Name = str()
	m.SpecialUse = str()
	m.UIDValidity = uint32(uv())
	m.UIDNext = UID(uv())
	m.ModSeq = uv()
	m.Subscribed = uv() == 1
	m.Messages = uint32(uv())
	m.Unseen = uint32(uv())
	m.Deleted = uint32(uv())
	m.Size = sv()
	m.Created = time.Unix(sv(), 0).UTC()
	if n < 0 {
		return errCorrupt
	}
	return nil
}
