package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The junk classifier's models (package junk does the statistics; the
// store keeps the counts, so that training is part of the commit that
// taught it). Layout:
//
//	junk:     account ID (0: the shared model) -> bucket {
//	            "n" -> uvarints: spam messages, ham messages, tokens, contacts
//	            "t" -> bucket{ token -> uvarints: spam count, ham count }
//	            "c" -> bucket{ address -> "" }  (trusted: the user wrote to them)
//	            "h" -> bucket{ message hash -> class } (trained from outside the store)
//	          }
//	junkmsgs: blob ID ++ account ID -> class: how a stored message was trained
//	          (set when the training is recorded; junkqueue.go applies it)
var (
	bJunk     = []byte("junk")
	bJunkMsgs = []byte("junkmsgs")
)

// JunkClass is what a message was trained as.
type JunkClass uint8

const (
	JunkNone JunkClass = iota // not trained
	JunkHam
	JunkSpam
)

func (c JunkClass) String() string {
	switch c {
	case JunkHam:
		return "ham"
	case JunkSpam:
		return "spam"
	}
	return "none"
}

// Keywords that train a message (RFC 5788's registry).
const (
	FlagJunk    = "$Junk"
	FlagNotJunk = "$NotJunk"
)

// SharedJunkModel is the account ID of the server-wide model, trained
// (with Options.JunkShared) from what every user marked.
const SharedJunkModel = 0

// Defaults of the junk model's bounds.
const (
	DefaultJunkMaxTokens   = 100_000
	DefaultJunkMaxContacts = 10_000
)

// JunkCounts is how many trained spam and ham messages held a token.
type JunkCounts struct{ Spam, Ham uint32 }

// JunkStats describes one account's model.
type JunkStats struct {
	Spam, Ham uint64 // messages trained
	Tokens    uint64 // distinct tokens kept (at most Options.JunkMaxTokens)
	Contacts  uint64 // trusted addresses
}

// junkTrainer is what a write transaction needs to train models; nil
// when the store has no tokenizer.
type junkTrainer struct {
	tokens      func(io.Reader) []string
	shared      bool
	maxTokens   uint64
	maxContacts uint64
}

func newJunkTrainer(o *Options) *junkTrainer {
	if o.JunkTokens == nil {
		return nil
	}
	j := &junkTrainer{tokens: o.JunkTokens, shared: o.JunkShared, maxTokens: uint64(o.JunkMaxTokens), maxContacts: DefaultJunkMaxContacts}
	if j.maxTokens == 0 {
		j.maxTokens = DefaultJunkMaxTokens
	}
	return j
}

// junkMoveClass says how moving or copying a message from src to dst
// trains it: into Junk is spam; out of Junk is ham, except into Trash
// (deleting spam says nothing new).
func junkMoveClass(src, dst *Mailbox) JunkClass {
	switch {
	case dst.SpecialUse == `\Junk` && src.SpecialUse != `\Junk`:
		return JunkSpam
	case src.SpecialUse == `\Junk` && dst.SpecialUse != `\Junk` && dst.SpecialUse != `\Trash`:
		return JunkHam
	}
	return JunkNone
}

// junkFlagClass says how a flag change trains a message: $Junk added is
// spam, $NotJunk added is ham. Both added at once say nothing.
func junkFlagClass(old, new []string) JunkClass {
	spam := hasFlag(new, FlagJunk) && !hasFlag(old, FlagJunk)
	ham := hasFlag(new, FlagNotJunk) && !hasFlag(old, FlagNotJunk)
	switch {
	case spam && !ham:
		return JunkSpam
	case ham && !spam:
		return JunkHam
	}
	return JunkNone
}

func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

func junkMsgKey(blob, acct uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, blob)
	binary.BigEndian.PutUint64(k[8:], acct)
	return k
}

// junkTrainMsgTx trains the stored message rec of account acct as class,
// untraining what it was trained as before; a message already trained as
// class is left alone. It runs inside the write that moved or flagged it
// and costs that write little: the message's new state and one record
// in the queue of pending trainings (junkqueue.go), which the junk worker
// applies to the model soon after.
func junkTrainMsgTx(t *tx, acct uint64, rec *msgRecord, class JunkClass) error {
	if t.junk == nil || class == JunkNone {
		return nil
	}
	key := junkMsgKey(rec.Blob, acct)
	states := t.Bucket(bJunkMsgs)
	prev := JunkNone
	if v := states.Get(key); len(v) == 1 {
		prev = JunkClass(v[0])
	}
	if prev == class {
		return nil
	}
	if err := queueJunkTx(t, acct, rec, prev, class); err != nil {
		return err
	}
	return states.Put(key, []byte{byte(class)})
}

// junkModel is one account's model inside a write transaction.
type junkModel struct {
	b, toks *bolt.Bucket
	st      JunkStats
}

func openJunkModel(t *bolt.Tx, acct uint64) (*junkModel, error) {
	b, err := t.Bucket(bJunk).CreateBucketIfNotExists(be64(acct))
	if err != nil {
		return nil, err
	}
	toks, err := b.CreateBucketIfNotExists([]byte("t"))
	if err != nil {
		return nil, err
	}
	return &junkModel{b: b, toks: toks, st: decodeJunkStats(b.Get([]byte("n")))}, nil
}

func decodeJunkStats(v []byte) JunkStats {
	var st JunkStats
	for _, p := range []*uint64{&st.Spam, &st.Ham, &st.Tokens, &st.Contacts} {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			break
		}
		*p, v = x, v[n:]
	}
	return st
}

func (m *junkModel) save() error {
	var b []byte
	for _, x := range []uint64{m.st.Spam, m.st.Ham, m.st.Tokens, m.st.Contacts} {
		b = binary.AppendUvarint(b, x)
	}
	return m.b.Put([]byte("n"), b)
}

func decodeJunkCounts(v []byte) JunkCounts {
	s, n := binary.Uvarint(v)
	if n <= 0 {
		return JunkCounts{}
	}
	h, k := binary.Uvarint(v[n:])
	if k <= 0 {
		return JunkCounts{}
	}
	return JunkCounts{Spam: uint32(min(s, 1<<32-1)), Ham: uint32(min(h, 1<<32-1))}
}

// tokenHash is FNV-1a, 64 bits (hash/fnv's, without its allocations). A
// token's key in a model is its hash, 8 bytes big-endian, as SpamAssassin
// keeps 5 bytes of a hash: short keys keep the model small (about 40 bytes
// a token) and a collision between two of an account's tokens rare (a
// chance of 1 in 3·10⁹ at 100,000 tokens).
func tokenHash(tok string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(tok); i++ {
		h ^= uint64(tok[i])
		h *= 1099511628211
	}
	return h
}

// prune keeps the model at most target tokens by dropping the ones seen
// in the fewest messages (those say least): first every token seen once,
// then twice, and so on.
func (m *junkModel) prune(target uint64) error {
	var hist [64]uint64
	m.toks.ForEach(func(_, v []byte) error {
		c := decodeJunkCounts(v)
		hist[min(uint64(c.Spam)+uint64(c.Ham), 63)]++
		return nil
	})
	// Delete every token seen fewer than cut times, and at cut until the
	// excess is gone.
	cut, atCut := JunkPruneCut(&hist, m.st.Tokens, target)
	var del [][]byte
	m.toks.ForEach(func(k, v []byte) error {
		c := decodeJunkCounts(v)
		n := uint64(c.Spam) + uint64(c.Ham)
		if n < cut || n == cut && atCut > 0 {
			if n == cut {
				atCut--
			}
			del = append(del, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range del {
		if err := m.toks.Delete(k); err != nil {
			return err
		}
	}
	m.st.Tokens -= uint64(len(del))
	return nil
}

// addJunkContactsTx records addresses acct's user wrote to as trusted.
func addJunkContactsTx(t *tx, acct uint64, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	m, err := openJunkModel(t.Tx, acct)
	if err != nil {
		return err
	}
	cb, err := m.b.CreateBucketIfNotExists([]byte("c"))
	if err != nil {
		return err
	}
	for _, a := range addrs {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || len(a) > 320 || cb.Get([]byte(a)) != nil {
			continue
		}
		if m.st.Contacts >= DefaultJunkMaxContacts {
			break
		}
		if err := cb.Put([]byte(a), []byte{}); err != nil {
			return err
		}
		m.st.Contacts++
	}
	return m.save()
}

// forgetJunkMsgsTx drops the training state of a blob deleted with its
// last reference.
func forgetJunkMsgsTx(t *bolt.Tx, blob uint64) error {
	b := t.Bucket(bJunkMsgs)
	prefix := be64(blob)
	var del [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		del = append(del, bytes.Clone(k))
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteJunkModelTx drops an account's model (with the account).
func deleteJunkModelTx(t *bolt.Tx, acct uint64) error {
	if t.Bucket(bJunk).Bucket(be64(acct)) == nil {
		return nil
	}
	return t.Bucket(bJunk).DeleteBucket(be64(acct))
}

// JunkSample is one message trained from outside the store (`petrel junk
// train`): its tokens, and a hash of its bytes that keeps it from being
// trained twice the same way.
type JunkSample struct {
	ID     []byte
	Tokens []string
	Class  JunkClass
}

// JunkTrain trains acct's model (SharedJunkModel: the shared one) with one
// message from outside the store, and reports whether the model changed:
// a message trained before as the same class is left alone, one trained
// as the other class is moved over.
func (s *Store) JunkTrain(ctx context.Context, acct uint64, id []byte, toks []string, class JunkClass) (bool, error) {
	n, err := s.JunkTrainMany(ctx, acct, []JunkSample{{ID: id, Tokens: toks, Class: class}})
	return n == 1, err
}

// JunkTrainMany is JunkTrain for many messages in one commit; it returns
// how many changed the model. Keep batches to a few hundred messages.
func (s *Store) JunkTrainMany(ctx context.Context, acct uint64, samples []JunkSample) (int, error) {
	for _, sm := range samples {
		if sm.Class != JunkSpam && sm.Class != JunkHam {
			return 0, fmt.Errorf("junk train: class %v", sm.Class)
		}
	}
	var changed int
	err := s.update(ctx, func(t *tx) error {
		changed = 0
		if acct != SharedJunkModel && t.Bucket(bAcctIDs).Get(be64(acct)) == nil {
			return ErrNoAccount
		}
		jt := s.junk
		if jt == nil {
			jt = &junkTrainer{maxTokens: uint64(s.opts.JunkMaxTokens), shared: s.opts.JunkShared}
			if jt.maxTokens == 0 {
				jt.maxTokens = DefaultJunkMaxTokens
			}
		}
		t.junk = jt
		m, err := openJunkModel(t.Tx, acct)
		if err != nil {
			return err
		}
		hb, err := m.b.CreateBucketIfNotExists([]byte("h"))
		if err != nil {
			return err
		}
		b := newJunkBatch(jt.shared)
		for _, sm := range samples {
			prev := JunkNone
			if v := hb.Get(sm.ID); len(v) == 1 {
				prev = JunkClass(v[0])
			}
			if prev == sm.Class {
				continue
			}
			if err := hb.Put(bytes.Clone(sm.ID), []byte{byte(sm.Class)}); err != nil {
				return err
			}
			b.add(acct, sm.Tokens, prev, sm.Class)
			changed++
		}
		return b.apply(t, jt.maxTokens)
	})
	if err != nil {
		return 0, fmt.Errorf("junk train: %w", err)
	}
	return changed, nil
}

// JunkLookup fills counts[i] with the counts of toks[i] in acct's model
// and returns the model's totals, all from one consistent read.
func (s *Store) JunkLookup(acct uint64, toks []string, counts []JunkCounts) (JunkStats, error) {
	var st JunkStats
	err := s.view(func(t *bolt.Tx) error {
		st = s.junkLookupTx(t, acct, toks, counts)
		return nil
	})
	return st, err
}

// JunkJudge reads in one read transaction what a verdict for acct needs:
// whether acct's user wrote to one of senders (then counts are left
// alone), and else the model's totals and the counts of toks.
func (s *Store) JunkJudge(acct uint64, senders, toks []string, counts []JunkCounts) (st JunkStats, trusted bool, err error) {
	err = s.view(func(t *bolt.Tx) error {
		if b := t.Bucket(bJunk).Bucket(be64(acct)); b != nil {
			if cb := b.Bucket([]byte("c")); cb != nil {
				for _, a := range senders {
					if cb.Get([]byte(strings.ToLower(strings.TrimSpace(a)))) != nil {
						trusted = true
						return nil
					}
				}
			}
		}
		st = s.junkLookupTx(t, acct, toks, counts)
		return nil
	})
	return st, trusted, err
}

func (s *Store) junkLookupTx(t *bolt.Tx, acct uint64, toks []string, counts []JunkCounts) JunkStats {
	b := t.Bucket(bJunk).Bucket(be64(acct))
	clear(counts)
	if b == nil {
		return JunkStats{}
	}
	st := decodeJunkStats(b.Get([]byte("n")))
	tb := b.Bucket([]byte("t"))
	if tb == nil || len(toks) == 0 {
		return st
	}
	// A snapshot of this very generation (junkcache.go), or a cursor.
	gen := junkGen(b)
	snap, build := s.junkCache.get(acct, gen)
	if build {
		snap = junkSnapshot(tb, gen)
		s.junkCache.put(acct, snap)
	}
	if snap != nil {
		snap.lookup(toks, counts)
		return st
	}
	// One cursor, keys in order: bbolt's Get makes a cursor (and its
	// allocations) per call. Each token's hash and index are packed in
	// one slice sorted by hash.
	type ref struct {
		h uint64
		i int
	}
	refs := make([]ref, 0, len(toks))
	for i, tok := range toks {
		if len(tok) > 0 {
			refs = append(refs, ref{tokenHash(tok), i})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int { return cmp.Compare(a.h, b.h) })
	c := tb.Cursor()
	var k [8]byte
	for _, r := range refs {
		binary.BigEndian.PutUint64(k[:], r.h)
		if ck, v := c.Seek(k[:]); bytes.Equal(ck, k[:]) {
			counts[r.i] = decodeJunkCounts(v)
		}
	}
	return st
}

// JunkStatsOf returns acct's model's totals.
func (s *Store) JunkStatsOf(acct uint64) (JunkStats, error) {
	return s.JunkLookup(acct, nil, nil)
}

// JunkTrusted reports whether acct's user has written to addr.
func (s *Store) JunkTrusted(acct uint64, addr string) (bool, error) {
	var ok bool
	addr = strings.ToLower(strings.TrimSpace(addr))
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bJunk).Bucket(be64(acct))
		if b == nil {
			return nil
		}
		if cb := b.Bucket([]byte("c")); cb != nil {
			ok = cb.Get([]byte(addr)) != nil
		}
		return nil
	})
	return ok, err
}

// JunkModelSize returns how many bytes of the store acct's model takes
// (its pages, as bbolt counts them).
func (s *Store) JunkModelSize(acct uint64) (int64, error) {
	var n int64
	err := s.view(func(t *bolt.Tx) error {
		b := t.Bucket(bJunk).Bucket(be64(acct))
		if b == nil {
			return nil
		}
		st := b.Stats()
		n = int64(st.BranchAlloc + st.LeafAlloc)
		return nil
	})
	return n, err
}

// JunkMailbox finds acct's Junk mailbox (special-use \Junk), making
// "Junk" if the account has none.
func junkMailboxTx(t *tx, acct uint64) (Mailbox, error) {
	prefix := be64(acct)
	c := t.Bucket(bMbxNames).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		m, err := getMailboxTx(t.Tx, MailboxID(binary.BigEndian.Uint64(v)))
		if err != nil {
			return m, err
		}
		if m.SpecialUse == `\Junk` {
			return m, nil
		}
	}
	if m, err := mailboxByNameTx(t.Tx, acct, "Junk"); err == nil {
		return m, nil
	}
	if t.Bucket(bAcctIDs).Get(prefix) == nil {
		return Mailbox{}, fmt.Errorf("account %d: %w", acct, ErrNoAccount)
	}
	return createMailboxTx(t, acct, "Junk", `\Junk`)
}

// JunkTrust records addrs as trusted senders of acct (addresses its user
// wrote to). It commits only when one of them is new.
func (s *Store) JunkTrust(ctx context.Context, acct uint64, addrs []string) error {
	var fresh []string
	for _, a := range addrs {
		ok, err := s.JunkTrusted(acct, a)
		if err != nil {
			return err
		}
		if !ok {
			fresh = append(fresh, a)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	err := s.update(ctx, func(t *tx) error {
		if t.Bucket(bAcctIDs).Get(be64(acct)) == nil {
			return ErrNoAccount
		}
		return addJunkContactsTx(t, acct, fresh)
	})
	if err != nil {
		return fmt.Errorf("junk trust: %w", err)
	}
	return nil
}
