package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"petrel/internal/boltbackup"
)

var (
	bucketItems  = []byte("items")
	bucketBodies = []byte("bodies")
	// bucketRetired holds the retired entries (Item.Finished), apart from
	// items so that loading and Stats see the queued messages alone.
	bucketRetired = []byte("retired")
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
	db   *bolt.DB // nil on a Shared queue
	rec  records
	kick chan struct{} // one slot: wakes Run
	// owner names this node's leases on a Shared queue.
	owner string

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
	if opts.Resolver == nil && opts.RelayHost == "" {
		return nil, errors.New("queue: neither a resolver nor a relay host")
	}
	if opts.Shared != nil {
		q := openShared(opts)
		if opts.NewLocal != nil {
			var err error
			if q.opts.Local, err = opts.NewLocal(q); err != nil {
				return nil, fmt.Errorf("queue: local delivery: %w", err)
			}
		}
		return q, nil
	}
	if opts.Path == "" {
		return nil, errors.New("queue: no path")
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", opts.Path, err)
	}
	q := &Queue{
		opts:      opts,
		log:       opts.Logger.With("pkg", "queue"),
		db:        db,
		rec:       boltRecords{db},
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
		if _, err := tx.CreateBucketIfNotExists(bucketRetired); err != nil {
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

// openShared returns the queue on a Shared database: nothing to load,
// the units are claimed from the database as they fall due.
func openShared(opts Options) *Queue {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return &Queue{
		opts:  opts,
		log:   opts.Logger.With("pkg", "queue"),
		rec:   sharedRecords{opts.Shared},
		kick:  make(chan struct{}, 1),
		owner: fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b),
	}
}

// BackupSized writes a consistent snapshot of the queue's file while it
// stays in use (boltbackup.Sized): begin is told the snapshot's size and
// returns where to write it. A Shared queue is backed up with its
// database.
func (q *Queue) BackupSized(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	if q.db == nil {
		return 0, errors.New("queue: the queue is in the shared database: back it up with the database")
	}
	return boltbackup.Sized(ctx, q.db, begin)
}

// Close closes the queue file. Run must have returned.
func (q *Queue) Close() error {
	if q.db == nil {
		return nil
	}
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
	if q.db == nil {
		q.wake() // due in the shared database: this node claims them first
		return
	}
	q.mu.Lock()
	for _, it := range items {
		q.addUnitsLocked(it)
	}
	q.mu.Unlock()
	q.wake()
}

func (q *Queue) unschedule(id string) {
	if q.db == nil {
		return // its units went with it
	}
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
	err := q.rec.update(ctx, true, func(tx recTx) error { return tx.put(it, msg) })
	if err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	q.schedule(it)
	return it.ID, nil
}

// List returns every queued message, oldest first.
func (q *Queue) List() ([]Item, error) {
	var out []Item
	err := q.rec.view(context.Background(), func(tx recTx) error {
		out = out[:0]
		return tx.each(func(id string, it *Item, err error) error {
			if err != nil {
				out = append(out, Item{ID: id, LastErr: err.Error()})
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
	size, oldest, err = q.rec.stats(context.Background())
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue: stats: %w", err)
	}
	return size, oldest, nil
}

// Show returns one queued message and a copy of its bytes.
func (q *Queue) Show(id string) (*Item, []byte, error) {
	var it *Item
	var body []byte
	err := q.rec.view(context.Background(), func(tx recTx) error {
		var err error
		if it, err = tx.get(id); err != nil {
			return err
		}
		body, err = tx.body(id)
		return err
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
	err := q.rec.update(context.Background(), false, func(tx recTx) error {
		items = items[:0]
		retry := func(it *Item) error {
			for i := range it.Rcpts {
				if it.Rcpts[i].State == Pending {
					it.Rcpts[i].NextAttempt = now
				}
			}
			items = append(items, it)
			return tx.put(it, nil)
		}
		if id != "" {
			it, err := tx.get(id)
			if err != nil {
				return err
			}
			return retry(it)
		}
		var all []*Item
		err := tx.each(func(_ string, it *Item, err error) error {
			if err == nil && it.Finished.IsZero() {
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
	if q.db == nil {
		q.wake()
		return nil
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
	err := q.rec.update(context.Background(), false, func(tx recTx) error {
		if _, err := tx.get(id); err != nil {
			return err
		}
		return tx.del(id)
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
	err := q.rec.update(context.Background(), false, func(tx recTx) error {
		it, err := tx.get(id)
		if err != nil {
			return err
		}
		body, err := tx.body(id)
		if err != nil {
			return err
		}
		var failed []Rcpt
		for i := range it.Rcpts {
			r := &it.Rcpts[i]
			if r.State == Pending {
				r.State, r.Status = Failed, "5.0.0"
				r.LastReply = "delivery cancelled by the postmaster (last error: " + r.LastReply + ")"
				failed = append(failed, *r)
			}
		}
		now := time.Now()
		if dsn, err = q.dsnTx(tx, it, body, failed, actionFailed, now); err != nil {
			return err
		}
		if !it.Finished.IsZero() {
			return tx.del(id) // bouncing a retired entry removes it
		}
		return q.finishTx(tx, it, now)
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

// finishTx retires it, whose recipients are all delivered or failed, at
// now: it stays, with their results and attempt logs, for
// Options.KeepFinished, or goes at once when that is 0.
func (q *Queue) finishTx(tx recTx, it *Item, now time.Time) error {
	if q.opts.KeepFinished <= 0 {
		return tx.del(it.ID)
	}
	it.Finished = now
	return tx.put(it, nil)
}

// expireFinished removes the retired entries whose Options.KeepFinished
// is up at now, and returns how many it removed.
func (q *Queue) expireFinished(ctx context.Context, now time.Time) (int, error) {
	if q.opts.KeepFinished <= 0 {
		return 0, nil
	}
	var n int
	err := q.rec.update(ctx, false, func(tx recTx) error {
		n = 0
		var old []string
		err := tx.finished(func(id string, it *Item) error {
			if now.Sub(it.Finished) >= q.opts.KeepFinished {
				old = append(old, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range old {
			if err := tx.del(id); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: expire finished messages: %w", err)
	}
	return n, nil
}

// sweepEvery is how often Run looks for retired entries to remove: a
// tenth of Options.KeepFinished, between a second and an hour (a tenth
// of a second in tests that keep them for less than ten seconds).
func (q *Queue) sweepEvery() time.Duration {
	d := q.opts.KeepFinished / 10
	if q.opts.KeepFinished >= 10*time.Second {
		d = max(d, time.Second)
	}
	return min(max(d, 10*time.Millisecond), time.Hour)
}

// sweep runs expireFinished if it is due at now, and returns when it is
// next due (zero when nothing is kept).
func (q *Queue) sweep(ctx context.Context, now, due time.Time) time.Time {
	if q.opts.KeepFinished <= 0 {
		return time.Time{}
	}
	if now.Before(due) {
		return due
	}
	if n, err := q.expireFinished(ctx, now); err != nil {
		if ctx.Err() == nil {
			q.log.Warn("expire finished messages", "err", err)
		}
	} else if n > 0 {
		q.log.Info("finished messages expired", "count", n)
	}
	return now.Add(q.sweepEvery())
}
