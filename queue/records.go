package queue

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// records is where the queue keeps its messages: its own bbolt file (one
// node), or a database the nodes share (Options.Shared).
type records interface {
	// update runs fn in a read-write transaction and commits it durably;
	// batch lets concurrent callers share one commit.
	update(ctx context.Context, batch bool, fn func(recTx) error) error
	view(ctx context.Context, fn func(recTx) error) error
	// stats counts the messages and says when the oldest arrived.
	stats(ctx context.Context) (int, time.Time, error)
}

// recTx is one transaction on the records.
type recTx interface {
	get(id string) (*Item, error) // ErrNotFound when absent
	body(id string) ([]byte, error)
	// put writes it, and body unless nil (then the stored one stays).
	put(it *Item, body []byte) error
	del(id string) error
	// each calls fn for every message in ID (arrival) order, retired
	// entries (Item.Finished) included; a record that does not decode
	// comes with its error.
	each(fn func(id string, it *Item, err error) error) error
	// finished calls fn for every retired entry (records that do not
	// decode are left out).
	finished(fn func(id string, it *Item) error) error
}

// boltRecords is the queue's own bbolt file: queued messages in
// bucketItems, retired entries in bucketRetired, the bodies of both in
// bucketBodies.
type boltRecords struct{ db *bolt.DB }

func (r boltRecords) update(_ context.Context, batch bool, fn func(recTx) error) error {
	f := func(tx *bolt.Tx) error { return fn(boltTx{tx}) }
	if batch {
		return r.db.Batch(f)
	}
	return r.db.Update(f)
}

func (r boltRecords) view(_ context.Context, fn func(recTx) error) error {
	return r.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// stats reads the file without decoding the messages but the oldest.
func (r boltRecords) stats(context.Context) (size int, oldest time.Time, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		size = b.Stats().KeyN
		k, v := b.Cursor().First() // IDs sort by arrival
		if k == nil {
			return nil
		}
		it, err := decodeItem(v)
		if err != nil {
			return err
		}
		oldest = it.Arrived
		return nil
	})
	return size, oldest, err
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) get(id string) (*Item, error) {
	v := t.tx.Bucket(bucketItems).Get([]byte(id))
	if v == nil {
		v = t.tx.Bucket(bucketRetired).Get([]byte(id))
	}
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return decodeItem(v)
}

// body copies the bytes out: they must outlive the transaction.
func (t boltTx) body(id string) ([]byte, error) {
	return append([]byte(nil), t.tx.Bucket(bucketBodies).Get([]byte(id))...), nil
}

func (t boltTx) put(it *Item, body []byte) error {
	b, err := encodeItem(it)
	if err != nil {
		return err
	}
	in, out := bucketItems, bucketRetired
	if !it.Finished.IsZero() {
		in, out = out, in
	}
	if err := t.tx.Bucket(in).Put([]byte(it.ID), b); err != nil {
		return fmt.Errorf("put item %s: %w", it.ID, err)
	}
	if err := t.tx.Bucket(out).Delete([]byte(it.ID)); err != nil {
		return fmt.Errorf("put item %s: %w", it.ID, err)
	}
	if body != nil {
		if err := t.tx.Bucket(bucketBodies).Put([]byte(it.ID), body); err != nil {
			return fmt.Errorf("put body %s: %w", it.ID, err)
		}
	}
	return nil
}

func (t boltTx) del(id string) error {
	if err := t.tx.Bucket(bucketItems).Delete([]byte(id)); err != nil {
		return err
	}
	if err := t.tx.Bucket(bucketRetired).Delete([]byte(id)); err != nil {
		return err
	}
	return t.tx.Bucket(bucketBodies).Delete([]byte(id))
}

// each merges the queued and the retired messages in ID order.
func (t boltTx) each(fn func(id string, it *Item, err error) error) error {
	a, b := t.tx.Bucket(bucketItems).Cursor(), t.tx.Bucket(bucketRetired).Cursor()
	ka, va := a.First()
	kb, vb := b.First()
	for ka != nil || kb != nil {
		var k, v []byte
		if kb == nil || (ka != nil && bytes.Compare(ka, kb) < 0) {
			k, v = ka, va
			ka, va = a.Next()
		} else {
			k, v = kb, vb
			kb, vb = b.Next()
		}
		it, err := decodeItem(v)
		if err := fn(string(k), it, err); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) finished(fn func(id string, it *Item) error) error {
	return t.tx.Bucket(bucketRetired).ForEach(func(k, v []byte) error {
		it, err := decodeItem(v)
		if err != nil {
			return nil // left for an operator to see with queue list
		}
		return fn(string(k), it)
	})
}
