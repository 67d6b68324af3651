package queue

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// idle is how long Run sleeps when nothing is scheduled; a kick ends it.
const idle = time.Hour

// Run is the scheduler: it starts the due deliveries, at most
// Options.PerDomain at once per destination domain and Options.Global in
// all, then sleeps until a kick (Enqueue, Retry, a finished delivery) or
// the earliest next attempt. It also removes the retired entries kept
// longer than Options.KeepFinished. It returns when ctx ends, after the running
// deliveries have stopped.
func (q *Queue) Run(ctx context.Context) {
	if q.opts.Shared != nil {
		q.runShared(ctx)
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var sweep time.Time // when retired entries are next looked at
	for {
		sweep = q.sweep(ctx, time.Now(), sweep)
		next := q.startDue(ctx, &wg)
		d := idle
		if !next.IsZero() {
			d = max(time.Until(next), 0)
		}
		if !sweep.IsZero() {
			d = min(d, max(time.Until(sweep), 0))
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		case <-timer.C:
		}
	}
}

// startDue starts every due unit that the limits allow and returns the
// earliest attempt time among the units not yet due (zero if none). Due
// units held back by a limit are looked at again when a delivery ends.
func (q *Queue) startDue(ctx context.Context, wg *sync.WaitGroup) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var next time.Time
	for u, t := range q.waiting {
		if t.After(now) {
			if next.IsZero() || t.Before(next) {
				next = t
			}
			continue
		}
		if q.total >= q.opts.Global || q.perDomain[u.domain] >= q.opts.PerDomain {
			continue
		}
		delete(q.waiting, u)
		q.running[u] = true
		q.perDomain[u.domain]++
		q.total++
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := q.attempt(ctx, u)
			q.mu.Lock()
			delete(q.running, u)
			if q.perDomain[u.domain]--; q.perDomain[u.domain] == 0 {
				delete(q.perDomain, u.domain)
			}
			q.total--
			if !next.IsZero() {
				if t, ok := q.waiting[u]; !ok || next.Before(t) {
					q.waiting[u] = next
				}
			}
			q.mu.Unlock()
			q.wake()
		}()
	}
	return next
}

// backoff is the delay before retry number n (1 for the first retry).
func (q *Queue) backoff(n int) time.Duration {
	r := q.opts.Retry
	d := r[min(max(n, 1), len(r))-1]
	if q.opts.Jitter > 0 {
		d += time.Duration(rand.Float64() * q.opts.Jitter * float64(d))
	}
	return d
}
