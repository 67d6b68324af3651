package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Shared is the queue in a database several nodes share (*pgqueue.Store is
// one): the messages with their bodies and recipients' states, and the
// units of work (message × domain) that the nodes lease to deliver. Any
// node may deliver any unit; a node that dies loses its leases when they
// run out, and another retries: duplicates are possible, losses never.
type Shared interface {
	// Update runs fn in one transaction and commits it durably.
	Update(ctx context.Context, fn func(SharedTx) error) error
	View(ctx context.Context, fn func(SharedTx) error) error
	// Stats counts the messages and says when the oldest arrived.
	Stats(ctx context.Context) (int, time.Time, error)
	// Claim leases to owner, for lease, up to max due units whose lease
	// (if any) ran out, leaving out those of a domain with perDomain
	// units leased already, by any owner.
	Claim(ctx context.Context, owner string, lease time.Duration, perDomain, max int) ([]Lease, error)
	// Renew extends l by lease from now; an error when it ran out.
	Renew(ctx context.Context, l Lease, lease time.Duration) error
	// Release gives l back, if still held (its unit's next attempt is
	// what the last Put said).
	Release(ctx context.Context, l Lease) error
}

// Lease is a unit of work leased to an owner.
type Lease struct{ ID, Domain, Owner string }

// SharedTx is one transaction on a Shared queue. Items are the queue's
// encoded records.
type SharedTx interface {
	// Get returns message id's record, nil when there is none.
	Get(id string) ([]byte, error)
	Body(id string) ([]byte, error)
	// Put writes message id's record, and body unless nil, and makes its
	// units exactly those of due: a destination domain with pending
	// recipients, and when it is next due. A unit kept keeps its lease.
	Put(id string, arrived time.Time, item, body []byte, due map[string]time.Time) error
	// Delete removes the message and its units.
	Delete(id string) error
	// Each calls fn for every message in ID (arrival) order.
	Each(fn func(id string, item []byte) error) error
}

// sharedRecords adapts a Shared queue to the records the queue works on.
type sharedRecords struct{ s Shared }

func (r sharedRecords) update(ctx context.Context, _ bool, fn func(recTx) error) error {
	return r.s.Update(ctx, func(tx SharedTx) error { return fn(sharedTx{tx}) })
}

func (r sharedRecords) view(ctx context.Context, fn func(recTx) error) error {
	return r.s.View(ctx, func(tx SharedTx) error { return fn(sharedTx{tx}) })
}

func (r sharedRecords) stats(ctx context.Context) (int, time.Time, error) { return r.s.Stats(ctx) }

type sharedTx struct{ tx SharedTx }

func (t sharedTx) get(id string) (*Item, error) {
	b, err := t.tx.Get(id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return decodeItem(b)
}

func (t sharedTx) body(id string) ([]byte, error) { return t.tx.Body(id) }

func (t sharedTx) put(it *Item, body []byte) error {
	b, err := encodeItem(it)
	if err != nil {
		return err
	}
	due := map[string]time.Time{}
	for _, r := range it.Rcpts {
		if r.State != Pending {
			continue
		}
		d := domainOf(r.Addr)
		if at, ok := due[d]; !ok || r.NextAttempt.Before(at) {
			due[d] = r.NextAttempt
		}
	}
	return t.tx.Put(it.ID, it.Arrived, b, body, due)
}

func (t sharedTx) del(id string) error { return t.tx.Delete(id) }

// finished reads every record: the shared database has no place of its
// own for retired entries (they are queue_items rows without units).
func (t sharedTx) finished(fn func(id string, it *Item) error) error {
	return t.each(func(id string, it *Item, err error) error {
		if err != nil || it.Finished.IsZero() {
			return nil
		}
		return fn(id, it)
	})
}

func (t sharedTx) each(fn func(id string, it *Item, err error) error) error {
	return t.tx.Each(func(id string, b []byte) error {
		it, err := decodeItem(b)
		return fn(id, it, err)
	})
}

// sharedPoll is how often a node on a Shared queue looks for due units
// when nothing wakes it: messages queued through other nodes, retries
// falling due, leases of dead nodes running out.
const sharedPoll = time.Second

// runShared is Run on a Shared queue: it claims due units, within
// Options.Global running on this node and Options.PerDomain per domain
// across the nodes, and delivers each under a lease it renews until the
// attempt is recorded.
func (q *Queue) runShared(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(sharedPoll)
	defer tick.Stop()
	var sweep time.Time // when retired entries are next looked at
	for {
		sweep = q.sweep(ctx, time.Now(), sweep)
		q.mu.Lock()
		free := q.opts.Global - q.total
		q.mu.Unlock()
		if free > 0 {
			leases, err := q.opts.Shared.Claim(ctx, q.owner, q.opts.Lease, q.opts.PerDomain, free)
			if err != nil && ctx.Err() == nil {
				q.log.Warn("claim due deliveries", "err", err)
			}
			for _, l := range leases {
				q.mu.Lock()
				q.total++
				q.mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					q.attemptLeased(ctx, l)
					q.mu.Lock()
					q.total--
					q.mu.Unlock()
					q.wake()
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		case <-tick.C:
		}
	}
}

// attemptLeased delivers a leased unit, renewing the lease meanwhile, and
// gives the lease back once the attempt is recorded. A lease that runs out
// (this node stalled) lets another node deliver too: a duplicate, never a
// loss.
func (q *Queue) attemptLeased(ctx context.Context, l Lease) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(q.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-actx.Done():
				return
			case <-t.C:
				if err := q.opts.Shared.Renew(actx, l, q.opts.Lease); err != nil && actx.Err() == nil {
					q.log.Warn("renew delivery lease", "id", l.ID, "domain", l.Domain, "err", err)
				}
			}
		}
	}()
	q.attempt(actx, unit{id: l.ID, domain: l.Domain})
	cancel()
	<-renewed
	// Given back even when shutting down, so another node need not wait
	// for the lease to run out.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if err := q.opts.Shared.Release(rctx, l); err != nil && !errors.Is(err, context.Canceled) {
		q.log.Warn("release delivery lease", "id", l.ID, "domain", l.Domain, "err", err)
	}
}
