package store

import (
	"context"
	"errors"

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
	done   chan error
}

var errRetrySingly = errors.New("retry writes one by one")

// update runs fn in a read-write transaction and returns once it is
// committed to disk (or failed). fn may run more than once (when another
// write in its batch fails, each is retried alone), so it must only act on
// the transaction and on variables it sets afresh each time.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	r := &writeReq{fn: fn, origin: originOf(ctx), done: make(chan error, 1)}
	if err := s.enqueue(ctx, r); err != nil {
		return err
	}
	// Once queued the write will be attempted; wait for its outcome even if
	// ctx ends, so a caller never mistakes a committed write for a failed one.
	return <-r.done
}

// enqueue hands r to the committer, or fails with ErrClosed once Close has
// begun. It holds closeMu for reading while it sends, so Close (which takes
// it for writing) knows no send is in progress when it closes s.writes: a
// write is either in the channel before it closes, and so committed before
// the committer exits, or refused.
func (s *Store) enqueue(ctx context.Context, r *writeReq) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.writes <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// committer is the store's single writer. It takes the first queued write,
// then every write queued behind it (up to MaxBatch), and commits them in one
// transaction: one fsync for the lot. Writes that arrive while it syncs wait
// for the next batch, so under load batches grow by themselves and with one
// writer there is no added delay. It returns when Close has closed s.writes
// and every write queued before that is committed.
func (s *Store) committer() {
	defer s.wg.Done()
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for {
		r, ok := <-s.writes
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		if !s.opts.NoGroupCommit {
		fill:
			for len(batch) < s.opts.MaxBatch {
				select {
				case r, ok := <-s.writes:
					if !ok {
						break fill
					}
					batch = append(batch, r)
				default:
					break fill
				}
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []*writeReq) {
	start := nowFunc()
	var failed *writeReq
	var failErr error
	kick := false
	err := s.db.Update(func(btx *bolt.Tx) error {
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
