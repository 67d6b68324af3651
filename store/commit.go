package store

import (
	"context"
	"errors"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// tx is one write inside a (possibly shared) bbolt transaction. It collects
// the events to publish once the transaction is durable.
type tx struct {
	*bolt.Tx
	origin any
	events []Event
	junk   *junkTrainer // nil: moves and flags train no junk model
	// junkQueued says the write queued trainings (junkqueue.go): the
	// junk worker is woken once it is committed.
	junkQueued bool
}

func (t *tx) emit(ev Event) {
	ev.Origin = t.origin
	t.events = append(t.events, ev)
}

type writeReq struct {
	fn     func(*tx) error
	origin any
	events []Event
	// done receives the write's outcome, or errLead: the writer is to
	// lead the next commit (its request is at the head of the queue).
	done chan error
}

var errRetrySingly = errors.New("retry writes one by one")

// errLead hands the lead of the next commit to a waiting writer.
var errLead = errors.New("lead the next commit")

// update runs fn in a read-write transaction and returns once it is
// committed to disk (or failed). fn may run more than once (when another
// write in its batch fails, each is retried alone), so it must only act on
// the transaction and on variables it sets afresh each time.
//
// Group commit, led by the writers themselves: a write that finds no
// commit running commits itself and every write queued by then, on its own
// goroutine (no hand-over to another goroutine and back, each a wake-up
// that costs milliseconds on a busy machine); writes that come while a
// commit runs queue, and when it ends the first of them leads the next
// one, with all the others queued behind it. One fsync per batch, and with
// one writer no added delay.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	r := &writeReq{fn: fn, origin: originOf(ctx), done: make(chan error, 1)}
	lead, err := s.enqueue(ctx, r)
	if err != nil {
		return err
	}
	defer s.wg.Done()
	// Once queued the write will be attempted; wait for its outcome even if
	// ctx ends, so a caller never mistakes a committed write for a failed one.
	for {
		if lead {
			s.lead()
		}
		err := <-r.done
		if err != errLead {
			return err
		}
		lead = true
	}
}

// enqueue queues r, or fails with ErrClosed once Close has begun, and says
// whether the caller leads the next commit. It holds closeMu for reading,
// so Close (which takes it for writing) knows every write is either
// counted in wg, and so committed before the file closes, or refused.
func (s *Store) enqueue(ctx context.Context, r *writeReq) (lead bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	s.wg.Add(1)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.queue = append(s.queue, r)
	if s.leading {
		return false, nil
	}
	s.leading = true
	return true, nil
}

// lead commits the writes at the head of the queue (up to MaxBatch; one
// with NoGroupCommit) in one transaction, then hands the lead to the first
// write still queued, or gives it up.
func (s *Store) lead() {
	s.qmu.Lock()
	n := min(len(s.queue), s.opts.MaxBatch)
	if s.opts.NoGroupCommit {
		n = min(n, 1)
	}
	batch := slices.Clone(s.queue[:n])
	s.queue = slices.Delete(s.queue, 0, n)
	s.qmu.Unlock()
	s.commitBatch(batch)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if len(s.queue) == 0 {
		s.leading = false
		return
	}
	s.queue[0].done <- errLead // its done is empty: it is not committed yet
}

func (s *Store) commitBatch(batch []*writeReq) {
	start := nowFunc()
	var failed *writeReq
	var failErr error
	kick := false
	err := s.wal.commit(func() error {
		return s.db.Update(func(btx *bolt.Tx) error {
			kick = false
			for _, r := range batch {
				t := &tx{Tx: btx, origin: r.origin, junk: s.junk}
				err := r.fn(t)
				kick = kick || t.junkQueued
				if err != nil {
					if len(batch) == 1 {
						return err
					}
					failed, failErr = r, err
					return errRetrySingly
				}
				r.events = t.events
			}
			return nil
		})
	})
	if errors.Is(err, errRetrySingly) {
		// One write failed: the transaction rolled back. Commit the others
		// alone so one bad request cannot fail its neighbours.
		for _, r := range batch {
			if r == failed {
				r.done <- failErr
				continue
			}
			s.commitBatch([]*writeReq{r})
		}
		return
	}
	s.observeCommit(nowFunc().Sub(start), len(batch))
	if err == nil && kick {
		s.kickJunk()
	}
	for _, r := range batch {
		if err == nil {
			s.hub.publish(r.events)
		}
		r.done <- err
	}
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return s.db.View(fn)
}

type originKey struct{}

// WithOrigin returns a context that marks the writes made with it as coming
// from origin (an IMAP session, say). Events carry it, so a front-end can
// skip echoing a change back to the session that made it.
func WithOrigin(ctx context.Context, origin any) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) any {
	if ctx == nil {
		return nil
	}
	return ctx.Value(originKey{})
}
