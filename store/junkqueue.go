package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Training in two steps. A move, copy or flag change that trains a
// message does not touch the model: in its own commit it sets the
// message's training state (junkmsgs) and adds one small record to the
// queue of pending trainings, which holds a reference to the message's
// blob. The junk worker (one goroutine per store) then applies pending
// records in batches, many messages per transaction, each token of the
// batch read and written once; a record is deleted in the transaction
// that applies it, so a training survives a crash (the queue is replayed
// when the store opens) and is never applied twice. Layout:
//
//	junkq: sequence (8 bytes, big-endian) -> account ID (8) ++ blob ID (8)
//	       ++ previous class (1) ++ new class (1) ++ the copy's prefix
var bJunkQueue = []byte("junkq")

// junkApplyBatch bounds how many pending trainings one transaction
// applies: enough to share most tokens' pages, few enough that the
// commit every writer waits behind stays short (tens of milliseconds).
const junkApplyBatch = 256

// queueJunkTx records that rec (a copy in account acct) is to be
// untrained from prev and trained as class, and keeps its blob until then.
func queueJunkTx(t *tx, acct uint64, rec *msgRecord, prev, class JunkClass) error {
	q := t.Bucket(bJunkQueue)
	seq, err := q.NextSequence()
	if err != nil {
		return err
	}
	if err := refBlob(t.Tx, rec.Blob); err != nil {
		return err
	}
	v := make([]byte, 18, 18+len(rec.Prefix))
	binary.BigEndian.PutUint64(v, acct)
	binary.BigEndian.PutUint64(v[8:], rec.Blob)
	v[16], v[17] = byte(prev), byte(class)
	v = append(v, rec.Prefix...)
	t.junkQueued = true
	return q.Put(be64(seq), v)
}

// pendingTraining is one queued record, read and tokenized before the
// transaction that applies it.
type pendingTraining struct {
	key         []byte
	acct, blob  uint64
	prev, class JunkClass
	toks        []string
}

// JunkPending returns how many trainings wait for the junk worker (all
// accounts' when acct is ^0, else acct's).
func (s *Store) JunkPending(acct uint64) (int, error) {
	n := 0
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bJunkQueue).ForEach(func(_, v []byte) error {
			if len(v) >= 18 && (acct == ^uint64(0) || binary.BigEndian.Uint64(v) == acct) {
				n++
			}
			return nil
		})
	})
	return n, err
}

// JunkApplyPending applies every pending training now, in batches, and
// returns how many it applied. The junk worker calls it after each commit
// that queued some; `petrel junk stats` and tests call it to see the
// model with nothing pending. A store without a tokenizer
// (Options.JunkTokens) leaves the queue alone.
func (s *Store) JunkApplyPending(ctx context.Context) (int, error) {
	if s.junk == nil {
		return 0, nil
	}
	s.junkApplyMu.Lock()
	defer s.junkApplyMu.Unlock()
	total := 0
	for {
		items, err := s.readPending(junkApplyBatch)
		if err != nil || len(items) == 0 {
			return total, err
		}
		n, err := s.applyPending(ctx, items)
		total += n
		if err != nil {
			return total, err
		}
		if s.opts.OnJunkApply != nil {
			s.opts.OnJunkApply(len(items))
		}
	}
}

// readPending reads and tokenizes the oldest max pending trainings, in a
// read transaction: the writer goes on meanwhile.
func (s *Store) readPending(max int) ([]pendingTraining, error) {
	var items []pendingTraining
	err := s.view(func(t *bolt.Tx) error {
		items = items[:0]
		blobs := t.Bucket(bBlobs)
		c := t.Bucket(bJunkQueue).Cursor()
		for k, v := c.First(); k != nil && len(items) < max; k, v = c.Next() {
			it := pendingTraining{key: bytes.Clone(k)}
			if len(v) >= 18 {
				it.acct, it.blob = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
				it.prev, it.class = JunkClass(v[16]), JunkClass(v[17])
				if body := blobs.Get(be64(it.blob)); body != nil {
					it.toks = s.junk.tokens(io.MultiReader(bytes.NewReader(v[18:]), bytes.NewReader(body)))
				}
			}
			items = append(items, it)
		}
		return nil
	})
	return items, err
}

// applyPending applies items in one transaction. An item gone from the
// queue (applied by a call that ran first) is skipped; one whose account
// was deleted is dropped. Either way its blob reference is released with
// the record.
func (s *Store) applyPending(ctx context.Context, items []pendingTraining) (int, error) {
	var n int
	err := s.update(ctx, func(t *tx) error {
		n = 0
		q := t.Bucket(bJunkQueue)
		b := newJunkBatch(s.junk.shared)
		for _, it := range items {
			if q.Get(it.key) == nil {
				continue
			}
			if err := q.Delete(it.key); err != nil {
				return err
			}
			if it.blob != 0 {
				if err := unrefBlob(t.Tx, it.blob); err != nil {
					return err
				}
			}
			if it.acct == 0 || it.class == JunkNone || t.Bucket(bAcctIDs).Get(be64(it.acct)) == nil {
				continue
			}
			b.add(it.acct, it.toks, it.prev, it.class)
			n++
		}
		return b.apply(t, s.junk.maxTokens)
	})
	if err != nil {
		return 0, fmt.Errorf("junk: applying pending trainings: %w", err)
	}
	return n, nil
}

// junkWorker applies pending trainings after each commit that queued
// some (and once at start: a crash may have left some), until Close.
func (s *Store) junkWorker() {
	defer s.junkWG.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.junkStop
		cancel()
	}()
	for {
		if _, err := s.JunkApplyPending(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("junk training", "err", err)
			select { // try again later, not in a loop
			case <-s.junkStop:
				return
			case <-time.After(5 * time.Second):
			}
		}
		select {
		case <-s.junkStop:
			return
		case <-s.junkKick:
		}
	}
}

// kickJunk wakes the worker (a commit queued trainings).
func (s *Store) kickJunk() {
	select {
	case s.junkKick <- struct{}{}:
	default:
	}
}

// junkBatch sums what many trainings do to the models, so that each
// token is read and written once per batch however many messages have it.
type junkBatch struct {
	shared bool
	models map[uint64]*modelDelta
}

type modelDelta struct {
	spam, ham int64
	toks      map[uint64]*[2]int32 // token hash -> spam, ham delta
}

func newJunkBatch(shared bool) *junkBatch {
	return &junkBatch{shared: shared, models: map[uint64]*modelDelta{}}
}

// add moves one message's tokens from class prev (JunkNone: not trained)
// to class in acct's model, and in the shared model if kept.
func (b *junkBatch) add(acct uint64, toks []string, prev, class JunkClass) {
	hashes := make([]uint64, 0, len(toks))
	for _, tok := range toks {
		if tok != "" {
			hashes = append(hashes, tokenHash(tok))
		}
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	accts := []uint64{acct}
	if b.shared && acct != SharedJunkModel {
		accts = append(accts, SharedJunkModel)
	}
	for _, a := range accts {
		d := b.models[a]
		if d == nil {
			d = &modelDelta{toks: make(map[uint64]*[2]int32, len(hashes))}
			b.models[a] = d
		}
		d.count(hashes, prev, -1)
		d.count(hashes, class, 1)
	}
}

func (d *modelDelta) count(hashes []uint64, class JunkClass, delta int32) {
	i := 0
	switch class {
	case JunkSpam:
		d.spam += int64(delta)
	case JunkHam:
		d.ham += int64(delta)
		i = 1
	default:
		return
	}
	for _, h := range hashes {
		c := d.toks[h]
		if c == nil {
			c = new([2]int32)
			d.toks[h] = c
		}
		c[i] += delta
	}
}

// apply writes the batch's sums into the models, tokens in key order
// (neighbouring keys share the pages bbolt has read), counts kept
// between 0 and 2³²-1, each model pruned back under maxTokens.
func (b *junkBatch) apply(t *tx, maxTokens uint64) error {
	accts := make([]uint64, 0, len(b.models))
	for a := range b.models {
		accts = append(accts, a)
	}
	slices.Sort(accts)
	for _, a := range accts {
		d := b.models[a]
		m, err := openJunkModel(t.Tx, a)
		if err != nil {
			return err
		}
		m.st.Spam = addClamped(m.st.Spam, d.spam, 1<<63)
		m.st.Ham = addClamped(m.st.Ham, d.ham, 1<<63)
		hashes := make([]uint64, 0, len(d.toks))
		for h, c := range d.toks {
			if c[0] != 0 || c[1] != 0 {
				hashes = append(hashes, h)
			}
		}
		slices.Sort(hashes)
		// bbolt keeps keys and values until the commit: one arena each.
		keys := make([]byte, 8*len(hashes))
		vals := make([]byte, 0, 2*binary.MaxVarintLen32*len(hashes))
		cur := m.toks.Cursor()
		for i, h := range hashes {
			k := keys[8*i : 8*i+8 : 8*i+8]
			binary.BigEndian.PutUint64(k, h)
			ck, v := cur.Seek(k)
			if !bytes.Equal(ck, k) {
				v = nil
			}
			c := decodeJunkCounts(v)
			dc := d.toks[h]
			spam := addClamped(uint64(c.Spam), int64(dc[0]), 1<<32-1)
			ham := addClamped(uint64(c.Ham), int64(dc[1]), 1<<32-1)
			if spam == 0 && ham == 0 {
				if v != nil {
					m.st.Tokens--
					if err := m.toks.Delete(k); err != nil {
						return err
					}
				}
				continue
			}
			if v == nil {
				m.st.Tokens++
			}
			start := len(vals)
			vals = binary.AppendUvarint(vals, spam)
			vals = binary.AppendUvarint(vals, ham)
			if err := m.toks.Put(k, vals[start:len(vals):len(vals)]); err != nil {
				return err
			}
		}
		if m.st.Tokens > maxTokens {
			if err := m.prune(maxTokens * 9 / 10); err != nil {
				return err
			}
		}
		if err := m.save(); err != nil {
			return err
		}
		if err := bumpJunkGen(m.b); err != nil {
			return err
		}
	}
	return nil
}

// addClamped returns x+d kept within [0, max].
func addClamped(x uint64, d int64, max uint64) uint64 {
	switch {
	case d < 0 && uint64(-d) >= x:
		return 0
	case d < 0:
		return x - uint64(-d)
	case max-x < uint64(d):
		return max
	}
	return x + uint64(d)
}
