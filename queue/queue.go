package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"petrel/internal/boltbackup"
)

var (
	bucketItems  = []byte("items")
	bucketBodies = []byte("bodies")
)

// ErrNotFound is returned for a queue ID that is not (or no longer) queued.
var ErrNotFound = errors.New("queue: no such message")

// unit is the scheduler's unit of work: the recipients of one message at
// one destination domain.
type unit struct{ id, domain string }

// Queue is the outbound queue. Open it, call Run in a goroutine, and Close
// it after Run has returned.
type Queue struct {
	opts Options
	log  *slog.Logger
	db   *bolt.DB
	kick chan struct{} // one slot: wakes Run

	mu        sync.Mutex
	waiting   map[unit]time.Time // units not running, and their next attempt
	running   map[unit]bool
	perDomain map[string]int
	total     int
}

// Open opens (or creates) the queue file at opts.Path and loads the
// pending work. Only one process may have the file open.
func Open(opts Options) (*Queue, error) {
	opts.setDefaults()
	if opts.Path == "" {
		return nil, errors.New("queue: no path")
	}
	if opts.Resolver == nil && opts.RelayHost == "" {
		return nil, errors.New("queue: neither a resolver nor a relay host")
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", opts.Path, err)
	}
	q := &Queue{
		opts:      opts,
		log:       opts.Logger.With("pkg", "queue"),
		db:        db,
		kick:      make(chan struct{}, 1),
		waiting:   map[unit]time.Time{},
		running:   map[unit]bool{},
		perDomain: map[string]int{},
	}
	err = db.Update(func(tx *bolt.Tx) error {
		items, err := tx.CreateBucketIfNotExists(bucketItems)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketBodies); err != nil {
			return err
		}
		return items.ForEach(func(k, v []byte) error {
			it, err := decodeItem(v)
			if err != nil {
				// A record we cannot read stays, for an operator to see
				// with queue list; it must not stop the rest.
				q.log.Error("unreadable queue record", "id", string(k), "err", err)
				return nil
			}
			q.addUnitsLocked(it)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: load %s: %w", opts.Path, err)
	}
	if opts.NewLocal != nil {
		if q.opts.Local, err = opts.NewLocal(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("queue: local delivery: %w", err)
		}
	}
	return q, nil
}

// BackupSized writes a consistent snapshot of the queue's file while it
// stays in use (boltbackup.Sized): begin is told the snapshot's size and
// returns where to write it.
func (q *Queue) BackupSized(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	return boltbackup.Sized(ctx, q.db, begin)
}

// Close closes the queue file. Run must have returned.
func (q *Queue) Close() error {
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("queue: close: %w", err)
	}
	return nil
}

// addUnitsLocked schedules the pending destinations of it. The caller holds
// q.mu, or is Open before the queue is shared.
func (q *Queue) addUnitsLocked(it *Item) {
	for _, r := range it.Rcpts {
		if r.State != Pending {
			continue
		}
		u := unit{id: it.ID, domain: domainOf(r.Addr)}
		if q.running[u] {
			continue
		}
		if t, ok := q.waiting[u]; !ok || r.NextAttempt.Before(t) {
			q.waiting[u] = r.NextAttempt
		}
	}
}

func (q *Queue) schedule(items ...*Item) {
	q.mu.Lock()
	for _, it := range items {
		q.addUnitsLocked(it)
	}
	q.mu.Unlock()
	q.wake()
}

func (q *Queue) unschedule(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for u := range q.waiting {
		if u.id == id {
			delete(q.waiting, u)
		}
	}
}

func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// newID returns a queue ID that sorts by arrival: milliseconds since the
// epoch, then 40 random bits.
func newID(now time.Time) string {
	var b [5]byte
	rand.Read(b[:])
	return fmt.Sprintf("%011x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// Enqueue queues msg (CRLF line ends, our Received header already on top)
// from the envelope sender from ("" for the null sender) to rcpts. It
// returns after the message is committed to disk: a nil error is the point
// after which the MTA may answer 250.
func (q *Queue) Enqueue(ctx context.Context, from string, rcpts []string, msg []byte) (string, error) {
	if len(rcpts) == 0 {
		return "", errors.New("queue: enqueue: no recipients")
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	now := time.Now()
	it := &Item{ID: newID(now), From: from, Arrived: now, Size: len(msg)}
	seen := map[string]bool{}
	for _, r := range rcpts {
		if domainOf(r) == "" {
			return "", fmt.Errorf("queue: enqueue: recipient %q has no domain", r)
		}
		if seen[strings.ToLower(r)] {
			continue
		}
		seen[strings.ToLower(r)] = true
		it.Rcpts = append(it.Rcpts, Rcpt{Addr: r, State: Pending, NextAttempt: now})
	}
	err := q.db.Batch(func(tx *bolt.Tx) error { return putItemTx(tx, it, msg) })
	if err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	q.schedule(it)
	return it.ID, nil
}

func putItemTx(tx *bolt.Tx, it *Item, body []byte) error {
	b, err := encodeItem(it)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketItems).Put([]byte(it.ID), b); err != nil {
		return fmt.Errorf("put item %s: %w", it.ID, err)
	}
	if body != nil {
		if err := tx.Bucket(bucketBodies).Put([]byte(it.ID), body); err != nil {
			return fmt.Errorf("put body %s: %w", it.ID, err)
		}
	}
	return nil
}

func getItemTx(tx *bolt.Tx, id string) (*Item, error) {
	v := tx.Bucket(bucketItems).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return decodeItem(v)
}

func deleteItemTx(tx *bolt.Tx, id string) error {
	if err := tx.Bucket(bucketItems).Delete([]byte(id)); err != nil {
		return err
	}
	return tx.Bucket(bucketBodies).Delete([]byte(id))
}

// List returns every queued message, oldest first.
func (q *Queue) List() ([]Item, error) {
	var out []Item
	err := q.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			it, err := decodeItem(v)
			if err != nil {
				out = append(out, Item{ID: string(k), LastErr: err.Error()})
				return nil
			}
			out = append(out, *it)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	return out, nil
}

// Stats returns the number of queued messages and when the oldest of them
// arrived (zero when the queue is empty), read from the file without
// decoding the messages: cheap enough for every /metrics scrape.
func (q *Queue) Stats() (size int, oldest time.Time, err error) {
	err = q.db.View(func(tx *bolt.Tx) error {
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
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue: stats: %w", err)
	}
	return size, oldest, nil
}

// Show returns one queued message and a copy of its bytes.
func (q *Queue) Show(id string) (*Item, []byte, error) {
	var it *Item
	var body []byte
	err := q.db.View(func(tx *bolt.Tx) error {
		var err error
		if it, err = getItemTx(tx, id); err != nil {
			return err
		}
		body = append([]byte(nil), tx.Bucket(bucketBodies).Get([]byte(id))...)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("queue: show: %w", err)
	}
	return it, body, nil
}

// Retry makes the pending recipients of message id (of every message, if
// id is "") due now.
func (q *Queue) Retry(id string) error {
	now := time.Now()
	var items []*Item
	err := q.db.Update(func(tx *bolt.Tx) error {
		items = items[:0]
		retry := func(it *Item) error {
			for i := range it.Rcpts {
				if it.Rcpts[i].State == Pending {
					it.Rcpts[i].NextAttempt = now
				}
			}
			items = append(items, it)
			return putItemTx(tx, it, nil)
		}
		if id != "" {
			it, err := getItemTx(tx, id)
			if err != nil {
				return err
			}
			return retry(it)
		}
		var all []*Item
		err := tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			if it, err := decodeItem(v); err == nil {
				all = append(all, it)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range all {
			if err := retry(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: retry: %w", err)
	}
	q.mu.Lock()
	for _, it := range items {
		for u := range q.waiting {
			if u.id == it.ID {
				q.waiting[u] = now
			}
		}
		q.addUnitsLocked(it)
	}
	q.mu.Unlock()
	q.wake()
	return nil
}

// Delete removes message id from the queue without telling the sender.
func (q *Queue) Delete(id string) error {
	err := q.db.Update(func(tx *bolt.Tx) error {
		if _, err := getItemTx(tx, id); err != nil {
			return err
		}
		return deleteItemTx(tx, id)
	})
	if err != nil {
		return fmt.Errorf("queue: delete: %w", err)
	}
	q.unschedule(id)
	q.log.Info("deleted by the administrator", "id", id)
	return nil
}

// Bounce fails every pending recipient of message id now, sends the sender
// a DSN (unless it is the null sender) and removes the message.
func (q *Queue) Bounce(id string) error {
	var dsn *Item
	err := q.db.Update(func(tx *bolt.Tx) error {
		it, err := getItemTx(tx, id)
		if err != nil {
			return err
		}
		body := tx.Bucket(bucketBodies).Get([]byte(id))
		var failed []Rcpt
		for i := range it.Rcpts {
			r := &it.Rcpts[i]
			if r.State == Pending {
				r.State, r.Status = Failed, "5.0.0"
				r.LastReply = "delivery cancelled by the postmaster (last error: " + r.LastReply + ")"
				failed = append(failed, *r)
			}
		}
		if dsn, err = q.dsnTx(tx, it, body, failed, actionFailed, time.Now()); err != nil {
			return err
		}
		return deleteItemTx(tx, id)
	})
	if err != nil {
		return fmt.Errorf("queue: bounce: %w", err)
	}
	q.unschedule(id)
	q.log.Info("bounced by the administrator", "id", id)
	if dsn != nil {
		q.schedule(dsn)
	}
	return nil
}
