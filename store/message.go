package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// UID is a message's unique identifier within its mailbox (RFC 3501 2.3.1.1).
type UID uint32

// System flags (RFC 3501 2.3.2). \Recent is not stored.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Message is a message's metadata.
type Message struct {
	UID          UID
	Flags        []string // sorted; system flags keep their canonical case
	InternalDate time.Time
	Size         int64
	ModSeq       uint64
	// Blob identifies the message's bytes, shared by its copies: IMAP's
	// EMAILID (RFC 8474).
	Blob uint64
	// SaveDate is when the message was put in its mailbox (RFC 8514);
	// zero for messages stored before Petrel kept it.
	SaveDate time.Time
}

// Has reports whether m carries flag (case-insensitively, as IMAP compares).
func (m *Message) Has(flag string) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// Target is one place a delivered message goes.
type Target struct {
	Account uint64
	// Mailbox is the mailbox name; "" or a missing mailbox means INBOX.
	Mailbox string
	// Prefix is put before the shared bytes for this copy only: the
	// Received, Return-Path and Delivered-To lines of this recipient.
	Prefix []byte
	Flags  []string
	// Junk files the copy in the account's Junk mailbox (special-use
	// \Junk, made if missing), whatever Mailbox says.
	Junk bool
	// Contacts are addresses the account's user wrote to (on the copy
	// filed in Sent): they become trusted senders in its junk model, in
	// the same commit.
	Contacts []string
}

// Delivery is one message for one or more mailboxes.
type Delivery struct {
	// Body is the message as received, CRLF line ends. Shared by all targets.
	Body    []byte
	Date    time.Time // internal date; zero means now
	Targets []Target
}

// Delivered says where one target's copy landed.
type Delivered struct {
	Mailbox     MailboxID
	UIDValidity uint32
	UID         UID
}

// Deliver stores d in every target's mailbox in one transaction and returns
// once it is durable: a nil error is the point after which SMTP may say 250.
// Concurrent calls share commits (see commit.go).
func (s *Store) Deliver(ctx context.Context, d *Delivery) ([]Delivered, error) {
	if len(d.Targets) == 0 {
		return nil, nil
	}
	date := d.Date
	if date.IsZero() {
		date = time.Now()
	}
	info := encodeStructure(ParseStructure(d.Body))
	var out []Delivered
	err := s.update(ctx, func(t *tx) error {
		out = out[:0]
		blob, err := putBlobTx(t.Tx, d.Body, info, len(d.Targets))
		if err != nil {
			return err
		}
		for _, tg := range d.Targets {
			var m Mailbox
			var err error
			if tg.Junk {
				m, err = junkMailboxTx(t, tg.Account)
			} else {
				m, err = deliveryMailboxTx(t.Tx, tg.Account, tg.Mailbox)
			}
			if err != nil {
				return err
			}
			if err := addJunkContactsTx(t, tg.Account, tg.Contacts); err != nil {
				return err
			}
			uid, err := addMessageTx(t, &m, &msgRecord{
				Blob:   blob,
				Date:   date.UnixNano(),
				Size:   int64(len(tg.Prefix) + len(d.Body)),
				Flags:  normalizeFlags(tg.Flags),
				Prefix: tg.Prefix,
			})
			if err != nil {
				return err
			}
			out = append(out, Delivered{Mailbox: m.ID, UIDValidity: m.UIDValidity, UID: uid})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	return out, nil
}

func deliveryMailboxTx(t *bolt.Tx, acct uint64, name string) (Mailbox, error) {
	if name != "" {
		if n, err := NormalizeMailboxName(name); err == nil {
			if m, err := mailboxByNameTx(t, acct, n); err == nil {
				return m, nil
			}
		}
	}
	m, err := mailboxByNameTx(t, acct, "INBOX")
	if err == ErrNoMailbox {
		return m, fmt.Errorf("account %d: %w", acct, ErrNoAccount)
	}
	return m, err
}

// Append adds a message to one mailbox (IMAP APPEND).
func (s *Store) Append(ctx context.Context, mbx MailboxID, body []byte, flags []string, date time.Time) (Delivered, error) {
	if date.IsZero() {
		date = time.Now()
	}
	info := encodeStructure(ParseStructure(body))
	var out Delivered
	err := s.update(ctx, func(t *tx) error {
		m, err := getMailboxTx(t.Tx, mbx)
		if err != nil {
			return err
		}
		blob, err := putBlobTx(t.Tx, body, info, 1)
		if err != nil {
			return err
		}
		uid, err := addMessageTx(t, &m, &msgRecord{Blob: blob, Date: date.UnixNano(), Size: int64(len(body)), Flags: normalizeFlags(flags)})
		if err != nil {
			return err
		}
		out = Delivered{Mailbox: m.ID, UIDValidity: m.UIDValidity, UID: uid}
		return nil
	})
	if err != nil {
		return Delivered{}, fmt.Errorf("append: %w", err)
	}
	return out, nil
}

func putBlobTx(t *bolt.Tx, body, info []byte, refs int) (uint64, error) {
	id := nextID(t, "blob")
	k := be64(id)
	if err := t.Bucket(bBlobs).Put(k, body); err != nil {
		return 0, err
	}
	if err := t.Bucket(bBlobInfo).Put(k, info); err != nil {
		return 0, err
	}
	return id, t.Bucket(bBlobRefs).Put(k, be64(uint64(refs)))
}

func refBlob(t *bolt.Tx, id uint64) error {
	k := be64(id)
	v := t.Bucket(bBlobRefs).Get(k)
	if v == nil {
		return fmt.Errorf("blob %d: %w", id, errCorrupt)
	}
	return t.Bucket(bBlobRefs).Put(k, be64(binary.BigEndian.Uint64(v)+1))
}

func unrefBlob(t *bolt.Tx, id uint64) error {
	k := be64(id)
	v := t.Bucket(bBlobRefs).Get(k)
	if v == nil {
		return nil
	}
	n := binary.BigEndian.Uint64(v)
	if n > 1 {
		return t.Bucket(bBlobRefs).Put(k, be64(n-1))
	}
	for _, b := range [][]byte{bBlobRefs, bBlobs, bBlobInfo} {
		if err := t.Bucket(b).Delete(k); err != nil {
			return err
		}
	}
	return forgetJunkMsgsTx(t, id)
}

// addMessageTx gives rec the next UID of m, stores it, updates m's counts
// and emits the event. m is updated in place and written back.
func addMessageTx(t *tx, m *Mailbox, rec *msgRecord) (UID, error) {
	uid := m.UIDNext
	if uid == 0 || uid == ^UID(0) {
		return 0, fmt.Errorf("mailbox %s: UIDs exhausted", m.Name)
	}
	m.UIDNext++
	m.ModSeq++
	rec.ModSeq = m.ModSeq
	rec.Saved = nowFunc().Unix()
	msgs := t.Bucket(bMsgs).Bucket(be64(uint64(m.ID)))
	if msgs == nil {
		return 0, fmt.Errorf("mailbox %d: %w", m.ID, errCorrupt)
	}
	if err := msgs.Put(be32(uint32(uid)), rec.encode()); err != nil {
		return 0, err
	}
	if err := indexMsgTx(t.Tx, m.ID, uid, 0, rec.ModSeq); err != nil {
		return 0, err
	}
	if err := noteDeletedTx(t.Tx, m.ID, uid, false, hasDeleted(rec.Flags)); err != nil {
		return 0, err
	}
	m.countIn(rec, 1)
	if err := addUsageTx(t.Tx, m.Account, rec.Size, 1); err != nil {
		return 0, err
	}
	if err := putMailboxTx(t.Tx, m); err != nil {
		return 0, err
	}
	t.emit(Event{Kind: EventAdded, Mailbox: m.ID, ModSeq: m.ModSeq, Messages: []Message{rec.message(uid)}})
	return uid, nil
}

// countIn adds (sign 1) or removes (sign -1) rec from m's counts.
func (m *Mailbox) countIn(rec *msgRecord, sign int) {
	seen, deleted := false, false
	for _, f := range rec.Flags {
		switch f {
		case FlagSeen:
			seen = true
		case FlagDeleted:
			deleted = true
		}
	}
	if sign > 0 {
		m.Messages++
		m.Size += rec.Size
		if !seen {
			m.Unseen++
		}
		if deleted {
			m.Deleted++
		}
		return
	}
	m.Messages--
	m.Size -= rec.Size
	if !seen {
		m.Unseen--
	}
	if deleted {
		m.Deleted--
	}
}

// normalizeFlags sorts and deduplicates flags, giving system flags their
// canonical case and dropping \Recent, which is not stored.
func normalizeFlags(flags []string) []string {
	if len(flags) == 0 {
		return nil
	}
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" {
			continue
		}
		if f[0] == '\\' {
			switch strings.ToLower(f) {
			case `\seen`:
				f = FlagSeen
			case `\answered`:
				f = FlagAnswered
			case `\flagged`:
				f = FlagFlagged
			case `\deleted`:
				f = FlagDeleted
			case `\draft`:
				f = FlagDraft
			default:
				continue // \Recent and unknown system flags
			}
		}
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, f) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// List returns every message of a mailbox in UID order.
func (s *Store) List(mbx MailboxID) ([]Message, error) {
	var out []Message
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return ErrNoMailbox
		}
		out = make([]Message, 0, b.Stats().KeyN)
		slab := newFlagSlab(cap(out))
		return b.ForEach(func(k, v []byte) error {
			rec, err := decodeRecordIn(v, true, &slab)
			if err != nil {
				return err
			}
			out = append(out, rec.message(UID(binary.BigEndian.Uint32(k))))
			return nil
		})
	})
	return out, err
}

// Messages returns the messages of uids that still exist, in the order
// given. Missing UIDs are skipped.
func (s *Store) Messages(mbx MailboxID, uids []UID) ([]Message, error) {
	return s.MessagesInto(make([]Message, 0, len(uids)), mbx, uids)
}

// MessagesInto is Messages appending to buf[:0] and returning it (grown
// if need be): a caller that reads often (IMAP's FETCH) reuses one array
// instead of allocating one per read. The Flags of what it returns are
// its own, as Messages'.
func (s *Store) MessagesInto(buf []Message, mbx MailboxID, uids []UID) ([]Message, error) {
	out := buf[:0]
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return ErrNoMailbox
		}
		c := uidCursor{c: b.Cursor()}
		slab := newFlagSlab(len(uids))
		for _, uid := range uids {
			v := c.get(uid)
			if v == nil {
				continue
			}
			rec, err := decodeRecordIn(v, true, &slab)
			if err != nil {
				return err
			}
			out = append(out, rec.message(uid))
		}
		return nil
	})
	return out, err
}

// uidCursor reads the records of a mailbox by UID. For UIDs asked in
// ascending order (FETCH 1:*, a page of the message list) it steps forward
// instead of searching the tree from its root for each one.
type uidCursor struct {
	c    *bolt.Cursor
	k, v []byte
	at   UID // the UID at k; 0 before the first read
}

// get returns the record of uid, or nil if there is none.
func (u *uidCursor) get(uid UID) []byte {
	var key [4]byte
	binary.BigEndian.PutUint32(key[:], uint32(uid))
	if u.at == 0 || uid < u.at || u.k == nil {
		u.k, u.v = u.c.Seek(key[:])
	} else {
		for steps := 0; u.k != nil && UID(binary.BigEndian.Uint32(u.k)) < uid; steps++ {
			if steps == 8 { // a gap: search instead
				u.k, u.v = u.c.Seek(key[:])
				break
			}
			u.k, u.v = u.c.Next()
		}
	}
	if u.k == nil || len(u.k) != 4 {
		u.at = 0
		return nil
	}
	u.at = UID(binary.BigEndian.Uint32(u.k))
	if u.at != uid {
		return nil
	}
	return u.v
}

func (s *Store) snapshot(id MailboxID) (*Snapshot, error) {
	snap := &Snapshot{}
	err := s.view(func(t *bolt.Tx) error {
		m, err := getMailboxTx(t, id)
		if err != nil {
			return err
		}
		snap.Mailbox = m
		b := t.Bucket(bMsgs).Bucket(be64(uint64(id)))
		snap.UIDs = make([]UID, 0, m.Messages)
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			snap.UIDs = append(snap.UIDs, UID(binary.BigEndian.Uint32(k)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// Content is a stored message's bytes: Prefix then Body. Both slices point
// into the store's memory map and are valid only inside the callback that
// received them; copy what you keep.
type Content struct {
	Prefix []byte
	Body   []byte
}

// Size is the message's length in bytes.
func (c *Content) Size() int64 { return int64(len(c.Prefix) + len(c.Body)) }

// Slice copies out bytes [off, off+n) of the message, clipped to its end.
// Only the pages holding those bytes are read from disk.
func (c *Content) Slice(off, n int64) []byte {
	size := c.Size()
	if off < 0 {
		off = 0
	}
	if off >= size || n <= 0 {
		return []byte{}
	}
	if n > size-off {
		n = size - off
	}
	out := make([]byte, n)
	c.ReadAt(out, off)
	return out
}

// ReadAt implements io.ReaderAt over Prefix+Body.
func (c *Content) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset")
	}
	n := 0
	pl := int64(len(c.Prefix))
	if off < pl {
		n = copy(p, c.Prefix[off:])
	}
	if n < len(p) {
		boff := off + int64(n) - pl
		if boff < int64(len(c.Body)) {
			n += copy(p[n:], c.Body[boff:])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader reads the whole message; valid only inside the callback.
func (c *Content) Reader() io.Reader {
	return io.MultiReader(bytes.NewReader(c.Prefix), bytes.NewReader(c.Body))
}

// ReadContent calls fn with the content of a message and its MIME
// structure (offsets include the prefix). fn runs inside a read
// transaction: copy what you need and return; never write to the network
// from it.
func (s *Store) ReadContent(mbx MailboxID, uid UID, fn func(c *Content, structure *Part) error) error {
	return s.view(func(t *bolt.Tx) error {
		rec, c, err := contentTx(t, mbx, uid)
		if err != nil {
			return err
		}
		part, err := structureTx(t.Bucket(bBlobInfo), rec, c)
		if err != nil {
			return fmt.Errorf("message %d/%d: %w", mbx, uid, err)
		}
		return fn(c, part)
	})
}

// ReadRaw is ReadContent for readers that need only the bytes (POP3's
// RETR and its octet counts): it skips decoding the stored structure,
// which otherwise costs more than the read itself. The same rules hold:
// c is valid only during fn.
func (s *Store) ReadRaw(mbx MailboxID, uid UID, fn func(c *Content) error) error {
	return s.view(func(t *bolt.Tx) error {
		_, c, err := contentTx(t, mbx, uid)
		if err != nil {
			return err
		}
		return fn(c)
	})
}

// Structure returns a message's MIME structure and envelope.
func (s *Store) Structure(mbx MailboxID, uid UID) (*Part, error) {
	var out *Part
	err := s.ReadContent(mbx, uid, func(_ *Content, p *Part) error {
		out = p
		return nil
	})
	return out, err
}

// ReadMessage returns a copy of a whole message.
func (s *Store) ReadMessage(mbx MailboxID, uid UID) ([]byte, error) {
	var out []byte
	err := s.view(func(t *bolt.Tx) error {
		_, c, err := contentTx(t, mbx, uid)
		if err != nil {
			return err
		}
		out = c.Slice(0, c.Size())
		return nil
	})
	return out, err
}

func contentTx(t *bolt.Tx, mbx MailboxID, uid UID) (msgRecord, *Content, error) {
	b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
	if b == nil {
		return msgRecord{}, nil, ErrNoMailbox
	}
	return contentIn(b, t.Bucket(bBlobs), mbx, uid)
}

// contentIn is contentTx with the mailbox's message bucket (msgs) and the
// blob bucket already open.
func contentIn(msgs, blobs *bolt.Bucket, mbx MailboxID, uid UID) (msgRecord, *Content, error) {
	return newContentCursor(msgs, blobs).content(mbx, uid)
}

// contentCursor reads many messages of one mailbox in one transaction:
// its buckets are opened, and its cursors made, once, not once per message
// (opening a nested bucket, and each Get's cursor, cost as much as the
// lookup itself).
type contentCursor struct {
	msgs, blobs *bolt.Cursor
	infos       *bolt.Cursor // the blob infos, set by readers of them
	key         [8]byte
	flags       flagSlab
}

func newContentCursor(msgs, blobs *bolt.Bucket) *contentCursor {
	return &contentCursor{msgs: msgs.Cursor(), blobs: blobs.Cursor()}
}

// get is Bucket.Get through the reused cursor c.
func (cc *contentCursor) get(c *bolt.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if v == nil || !bytes.Equal(k, key) {
		return nil
	}
	return v
}

func (cc *contentCursor) content(mbx MailboxID, uid UID) (msgRecord, *Content, error) {
	binary.BigEndian.PutUint32(cc.key[:4], uint32(uid))
	v := cc.get(cc.msgs, cc.key[:4])
	if v == nil {
		return msgRecord{}, nil, ErrNoMessage
	}
	rec, err := decodeRecordIn(v, false, &cc.flags)
	if err != nil {
		return rec, nil, err
	}
	binary.BigEndian.PutUint64(cc.key[:], rec.Blob)
	body := cc.get(cc.blobs, cc.key[:])
	if body == nil {
		return rec, nil, fmt.Errorf("message %d/%d: blob %d missing: %w", mbx, uid, rec.Blob, errCorrupt)
	}
	return rec, &Content{Prefix: rec.Prefix, Body: body}, nil
}

// FlagOp says how StoreFlags changes flags.
type FlagOp int

const (
	FlagsAdd     FlagOp = iota // +FLAGS
	FlagsRemove                // -FLAGS
	FlagsReplace               // FLAGS
)

// StoreFlags changes the flags of the given messages and returns their new
// state (UIDs that no longer exist are skipped). Messages whose flags do not
// actually change are returned too but not written or announced.
func (s *Store) StoreFlags(ctx context.Context, mbx MailboxID, uids []UID, op FlagOp, flags []string) ([]Message, error) {
	out, _, err := s.StoreFlagsIf(ctx, mbx, uids, op, flags, math.MaxUint64)
	return out, err
}

// StoreFlagsIf is StoreFlags that leaves alone, in the same transaction,
// the messages whose MODSEQ is above unchangedSince, and returns their UIDs
// as modified (IMAP's STORE (UNCHANGEDSINCE n), RFC 7162 3.1.3).
//
// A STORE that changes nothing (every message already as asked, gone, or
// modified since unchangedSince) is answered from a read transaction,
// without a commit: it is the same as if it had been made at that
// snapshot, which holds only durable changes. Clients send many (\Seen on
// a message read before, a flag removed that was not set), and each would
// otherwise wait for an fsync'd commit.
func (s *Store) StoreFlagsIf(ctx context.Context, mbx MailboxID, uids []UID, op FlagOp, flags []string, unchangedSince uint64) ([]Message, []UID, error) {
	flags = normalizeFlags(flags)
	if out, modified, ok := s.storeFlagsUnchanged(mbx, uids, op, flags, unchangedSince); ok {
		return out, modified, nil
	}
	var out []Message
	var modified []UID
	err := s.update(ctx, func(t *tx) error {
		out, modified = out[:0], modified[:0]
		m, err := getMailboxTx(t.Tx, mbx)
		if err != nil {
			return err
		}
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		var changed []Message
		modseq := m.ModSeq + 1
		for _, uid := range uids {
			k := be32(uint32(uid))
			v := b.Get(k)
			if v == nil {
				continue
			}
			rec, err := decodeRecord(v, false)
			if err != nil {
				return err
			}
			if rec.ModSeq > unchangedSince {
				modified = append(modified, uid)
				continue
			}
			nf := applyFlags(rec.Flags, op, flags)
			if slices.Equal(nf, rec.Flags) {
				out = append(out, rec.message(uid))
				continue
			}
			if err := junkTrainMsgTx(t, m.Account, &rec, junkFlagClass(rec.Flags, nf)); err != nil {
				return err
			}
			m.countIn(&rec, -1)
			old, hadDeleted := rec.ModSeq, hasDeleted(rec.Flags)
			rec.Flags = nf
			rec.ModSeq = modseq
			m.countIn(&rec, 1)
			if err := b.Put(k, rec.encode()); err != nil {
				return err
			}
			if err := indexMsgTx(t.Tx, mbx, uid, old, modseq); err != nil {
				return err
			}
			if err := noteDeletedTx(t.Tx, mbx, uid, hadDeleted, hasDeleted(nf)); err != nil {
				return err
			}
			msg := rec.message(uid)
			out = append(out, msg)
			changed = append(changed, msg)
		}
		if len(changed) == 0 {
			return nil
		}
		m.ModSeq = modseq
		if err := putMailboxTx(t.Tx, &m); err != nil {
			return err
		}
		t.emit(Event{Kind: EventFlags, Mailbox: mbx, ModSeq: modseq, Messages: changed})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	return out, modified, nil
}

// storeFlagsUnchanged returns StoreFlagsIf's answer, and true, when the
// STORE would change no message; false when it would change one, or cannot
// tell (no such mailbox, a record it cannot read: the write reports those).
func (s *Store) storeFlagsUnchanged(mbx MailboxID, uids []UID, op FlagOp, flags []string, unchangedSince uint64) (out []Message, modified []UID, ok bool) {
	s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
		if b == nil {
			return nil
		}
		for _, uid := range uids {
			v := b.Get(be32(uint32(uid)))
			if v == nil {
				continue
			}
			rec, err := decodeRecord(v, false)
			if err != nil {
				return nil
			}
			if rec.ModSeq > unchangedSince {
				modified = append(modified, uid)
				continue
			}
			if !slices.Equal(applyFlags(rec.Flags, op, flags), rec.Flags) {
				return nil
			}
			out = append(out, rec.message(uid))
		}
		ok = true
		return nil
	})
	return out, modified, ok
}

func applyFlags(cur []string, op FlagOp, flags []string) []string {
	switch op {
	case FlagsReplace:
		return slices.Clone(flags)
	case FlagsAdd:
		return normalizeFlags(append(slices.Clone(cur), flags...))
	case FlagsRemove:
		out := make([]string, 0, len(cur))
		for _, f := range cur {
			if !slices.ContainsFunc(flags, func(r string) bool { return strings.EqualFold(r, f) }) {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return cur
}

// Expunge removes the given messages, whatever their flags (POP3's UPDATE
// state), and returns the UIDs removed, ascending.
func (s *Store) Expunge(ctx context.Context, mbx MailboxID, uids []UID) ([]UID, error) {
	return s.expunge(ctx, mbx, uids, false)
}

// ExpungeDeleted removes the messages flagged \Deleted (IMAP EXPUNGE); with
// a non-nil within, only those among within (UID EXPUNGE).
func (s *Store) ExpungeDeleted(ctx context.Context, mbx MailboxID, within []UID) ([]UID, error) {
	return s.expunge(ctx, mbx, within, true)
}

func (s *Store) expunge(ctx context.Context, mbx MailboxID, uids []UID, onlyDeleted bool) ([]UID, error) {
	if onlyDeleted && s.noneDeleted(mbx, uids) {
		return nil, nil // nothing to remove: no commit (as storeFlagsUnchanged)
	}
	var out []UID
	err := s.update(ctx, func(t *tx) error {
		var err error
		out, err = expungeTx(t, mbx, uids, onlyDeleted)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	return out, nil
}

// noneDeleted says, from a read transaction, that mailbox mbx exists and
// has no message flagged \Deleted (among uids, unless nil): an EXPUNGE then
// removes nothing, as it would at that snapshot.
func (s *Store) noneDeleted(mbx MailboxID, uids []UID) bool {
	none := false
	s.view(func(t *bolt.Tx) error {
		if t.Bucket(bMsgs).Bucket(be64(uint64(mbx))) == nil {
			return nil
		}
		deleted := deletedUIDsTx(t, mbx)
		if uids == nil {
			none = len(deleted) == 0
			return nil
		}
		within := slices.Sorted(slices.Values(uids))
		none = !slices.ContainsFunc(deleted, func(u UID) bool { _, found := slices.BinarySearch(within, u); return found })
		return nil
	})
	return none
}

// expungeTx removes messages; uids nil means every message (with
// onlyDeleted, every \Deleted one).
func expungeTx(t *tx, mbx MailboxID, uids []UID, onlyDeleted bool) ([]UID, error) {
	m, err := getMailboxTx(t.Tx, mbx)
	if err != nil {
		return nil, err
	}
	b := t.Bucket(bMsgs).Bucket(be64(uint64(mbx)))
	if uids == nil && onlyDeleted {
		uids = deletedUIDsTx(t.Tx, mbx) // IMAP's EXPUNGE: the \Deleted index, not every message
		if len(uids) == 0 {
			return nil, nil
		}
	} else if uids == nil {
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			uids = append(uids, UID(binary.BigEndian.Uint32(k)))
		}
	} else {
		uids = slices.Clone(uids)
		slices.Sort(uids)
		uids = slices.Compact(uids)
	}
	var gone []UID
	var goneSize int64
	for _, uid := range uids {
		k := be32(uint32(uid))
		v := b.Get(k)
		if v == nil {
			continue
		}
		rec, err := decodeRecord(v, true)
		if err != nil {
			return nil, err
		}
		if onlyDeleted && !slices.Contains(rec.Flags, FlagDeleted) {
			continue
		}
		if err := b.Delete(k); err != nil {
			return nil, err
		}
		if err := unindexMsgTx(t.Tx, mbx, uid, rec.ModSeq); err != nil {
			return nil, err
		}
		if err := noteDeletedTx(t.Tx, mbx, uid, hasDeleted(rec.Flags), false); err != nil {
			return nil, err
		}
		if err := unrefBlob(t.Tx, rec.Blob); err != nil {
			return nil, err
		}
		m.countIn(&rec, -1)
		gone = append(gone, uid)
		goneSize += rec.Size
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if err := addUsageTx(t.Tx, m.Account, -goneSize, -int64(len(gone))); err != nil {
		return nil, err
	}
	m.ModSeq++
	if err := putMailboxTx(t.Tx, &m); err != nil {
		return nil, err
	}
	if err := putVanishedTx(t, mbx, m.ModSeq, gone); err != nil {
		return nil, err
	}
	t.emit(Event{Kind: EventExpunged, Mailbox: mbx, ModSeq: m.ModSeq, UIDs: gone})
	return gone, nil
}

// CopyResult pairs source and destination UIDs (COPYUID, RFC 4315).
type CopyResult struct {
	UIDValidity uint32
	Source      []UID
	Dest        []UID
}

// Copy copies messages to another mailbox; the bytes are shared, not copied.
func (s *Store) Copy(ctx context.Context, src MailboxID, uids []UID, dst MailboxID) (*CopyResult, error) {
	return s.copyOrMove(ctx, src, uids, dst, false)
}

// Move moves messages to another mailbox, or within one (new UIDs), in one
// transaction (RFC 6851).
func (s *Store) Move(ctx context.Context, src MailboxID, uids []UID, dst MailboxID) (*CopyResult, error) {
	return s.copyOrMove(ctx, src, uids, dst, true)
}

func (s *Store) copyOrMove(ctx context.Context, src MailboxID, uids []UID, dst MailboxID, move bool) (*CopyResult, error) {
	var res *CopyResult
	err := s.update(ctx, func(t *tx) error {
		r, dm, err := copyTx(t, src, uids, dst, move)
		if err != nil {
			return err
		}
		res = &CopyResult{UIDValidity: dm.UIDValidity, Source: r[0], Dest: r[1]}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return res, nil
}

func copyTx(t *tx, src MailboxID, uids []UID, dst MailboxID, move bool) ([2][]UID, Mailbox, error) {
	var res [2][]UID
	sb := t.Bucket(bMsgs).Bucket(be64(uint64(src)))
	if sb == nil {
		return res, Mailbox{}, ErrNoMailbox
	}
	dm, err := getMailboxTx(t.Tx, dst)
	if err != nil {
		return res, dm, err
	}
	db := t.Bucket(bMsgs).Bucket(be64(uint64(dst)))
	train := JunkNone
	if t.junk != nil {
		sm, err := getMailboxTx(t.Tx, src)
		if err != nil {
			return res, dm, err
		}
		train = junkMoveClass(&sm, &dm)
	}
	uids = slices.Clone(uids)
	slices.Sort(uids)
	uids = slices.Compact(uids)
	var added []Message
	var addedSize int64
	saved := nowFunc().Unix()
	for _, uid := range uids {
		v := sb.Get(be32(uint32(uid)))
		if v == nil {
			continue
		}
		rec, err := decodeRecord(v, false)
		if err != nil {
			return res, dm, err
		}
		if err := refBlob(t.Tx, rec.Blob); err != nil {
			return res, dm, err
		}
		if err := junkTrainMsgTx(t, dm.Account, &rec, train); err != nil {
			return res, dm, err
		}
		nuid := dm.UIDNext
		dm.UIDNext++
		rec.ModSeq = dm.ModSeq + 1
		rec.Saved = saved
		addedSize += rec.Size
		if err := db.Put(be32(uint32(nuid)), rec.encode()); err != nil {
			return res, dm, err
		}
		if err := indexMsgTx(t.Tx, dst, nuid, 0, rec.ModSeq); err != nil {
			return res, dm, err
		}
		if err := noteDeletedTx(t.Tx, dst, nuid, false, hasDeleted(rec.Flags)); err != nil {
			return res, dm, err
		}
		dm.countIn(&rec, 1)
		res[0] = append(res[0], uid)
		res[1] = append(res[1], nuid)
		added = append(added, rec.message(nuid))
	}
	if len(added) == 0 {
		return res, dm, nil
	}
	if !move {
		// A move stays within the account: it changes no usage
		// (expungeTx takes back what this adds).
		if err := checkQuotaTx(t.Tx, dm.Account, addedSize, int64(len(added))); err != nil {
			return res, dm, err
		}
	}
	if err := addUsageTx(t.Tx, dm.Account, addedSize, int64(len(added))); err != nil {
		return res, dm, err
	}
	dm.ModSeq++
	if err := putMailboxTx(t.Tx, &dm); err != nil {
		return res, dm, err
	}
	t.emit(Event{Kind: EventAdded, Mailbox: dst, ModSeq: dm.ModSeq, Messages: added})
	if move {
		if _, err := expungeTx(t, src, res[0], false); err != nil {
			return res, dm, err
		}
	}
	return res, dm, nil
}
