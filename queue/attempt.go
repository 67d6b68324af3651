package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"petrel/msgtext"
)

// outcome is what one attempt did for one recipient.
type outcome struct {
	state  State // Delivered, Failed, or Pending (temporary failure)
	reply  string
	status string // enhanced status code, e.g. "5.1.1"
	mta    string // the host that answered, if any
}

// attempt delivers the pending recipients of u once, records the outcome
// and returns the unit's next attempt time (zero when it is finished).
func (q *Queue) attempt(ctx context.Context, u unit) time.Time {
	var it *Item
	var body []byte
	err := q.rec.view(ctx, func(tx recTx) error {
		var err error
		if it, err = tx.get(u.id); err != nil {
			return err
		}
		body, err = tx.body(u.id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return time.Time{} // deleted or bounced meanwhile
	}
	if err != nil {
		q.log.Error("read queued message", "id", u.id, "err", err)
		return time.Now().Add(q.backoff(1))
	}
	var rcpts []string
	for _, r := range it.Rcpts {
		if r.State == Pending && domainOf(r.Addr) == u.domain {
			rcpts = append(rcpts, r.Addr)
		}
	}
	if len(rcpts) == 0 {
		return time.Time{}
	}

	start := time.Now()
	var res map[string]outcome
	var info attemptInfo
	switch n := msgtext.CountReceived(body); {
	case n > msgtext.MaxHops:
		// RFC 5321 section 6.3: a message with this many hops is looping.
		res = all(rcpts, outcome{state: Failed, status: "5.4.6",
			reply: fmt.Sprintf("5.4.6 routing loop detected: %d Received header fields", n)})
	case q.opts.IsLocal(u.domain):
		res = q.deliverLocal(ctx, it.From, rcpts, body)
		info.host = "local"
	default:
		res, info = q.deliverRemote(ctx, it.From, u.domain, rcpts, body)
	}
	if ctx.Err() != nil {
		// Shutting down: what failed because of it was not really tried.
		for r, o := range res {
			if o.state == Pending {
				delete(res, r)
			}
		}
	}
	if f := q.opts.OnAttempt; f != nil && len(res) > 0 {
		f(attemptResult(res))
	}

	next, counts, err := q.record(ctx, u, res)
	args := []any{"id", u.id, "domain", u.domain, "from", it.From, "host", info.host, "tls", info.tls,
		"delivered", counts[Delivered], "failed", counts[Failed], "deferred", counts[Pending],
		"duration", time.Since(start).Round(time.Millisecond)}
	if info.err != "" {
		args = append(args, "reply", info.err)
	}
	if err != nil {
		q.log.Error("record delivery attempt", append(args, "err", err)...)
		return time.Now().Add(q.backoff(1))
	}
	q.log.Info("delivery attempt", args...)
	return next
}

// attemptResult sums up one attempt's outcomes for Options.OnAttempt: a
// deferral outweighs a refusal, which outweighs acceptance.
func attemptResult(res map[string]outcome) string {
	result := AttemptDelivered
	for _, o := range res {
		switch o.state {
		case Pending:
			return AttemptTemporary
		case Failed:
			result = AttemptPermanent
		}
	}
	return result
}

func all(rcpts []string, o outcome) map[string]outcome {
	m := make(map[string]outcome, len(rcpts))
	for _, r := range rcpts {
		m[r] = o
	}
	return m
}

// record writes the outcomes of one attempt for u in one transaction:
// recipients' states, the next attempt of those deferred, expiry, DSNs for
// failures and for the first long delay, and the message's removal when
// every recipient is finished.
func (q *Queue) record(ctx context.Context, u unit, res map[string]outcome) (time.Time, map[State]int, error) {
	var next time.Time
	var counts map[State]int
	var dsns []*Item
	now := time.Now()
	// Recorded even when shutting down: the attempt happened.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err := q.rec.update(ctx, true, func(tx recTx) error {
		next, counts, dsns = time.Time{}, map[State]int{}, nil
		it, err := tx.get(u.id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		body, err := tx.body(u.id)
		if err != nil {
			return err
		}
		it.Attempts++
		expired := now.Sub(it.Arrived) >= q.opts.MaxAge
		var failed, delayed []Rcpt
		for i := range it.Rcpts {
			r := &it.Rcpts[i]
			o, ok := res[r.Addr]
			if !ok || r.State != Pending {
				continue
			}
			r.Attempts++
			r.LastReply, r.Status, r.RemoteMTA = o.reply, o.status, o.mta
			r.Log = append(r.Log, Attempt{Time: now, RemoteMTA: o.mta, Reply: o.reply})
			if len(r.Log) > MaxAttemptLog {
				r.Log = append(r.Log[:0], r.Log[len(r.Log)-MaxAttemptLog:]...)
			}
			switch o.state {
			case Delivered:
				r.State = Delivered
			case Failed:
				r.State = Failed
			default:
				if expired {
					r.State, r.Status = Failed, "4.4.7"
					r.LastReply = fmt.Sprintf("message expired after %s in the queue; last error: %s", q.opts.MaxAge, o.reply)
					break
				}
				r.NextAttempt = now.Add(q.backoff(r.Attempts))
				if next.IsZero() || r.NextAttempt.Before(next) {
					next = r.NextAttempt
				}
				delayed = append(delayed, *r)
			}
			counts[r.State]++
			if r.State == Failed {
				failed = append(failed, *r)
			}
			if o.state == Pending || r.State == Failed {
				it.LastErr = r.LastReply
			}
		}
		d, err := q.dsnTx(tx, it, body, failed, actionFailed, now)
		if err != nil {
			return err
		}
		if d != nil {
			dsns = append(dsns, d)
		}
		if len(delayed) > 0 && !it.Warned && q.opts.DelayWarning > 0 && now.Sub(it.Arrived) >= q.opts.DelayWarning {
			d, err := q.dsnTx(tx, it, body, delayed, actionDelayed, now)
			if err != nil {
				return err
			}
			if d != nil {
				dsns = append(dsns, d)
			}
			it.Warned = true
		}
		if it.done() {
			return q.finishTx(tx, it, now)
		}
		return tx.put(it, nil)
	})
	if err != nil {
		return time.Time{}, counts, fmt.Errorf("queue: record attempt of %s: %w", u.id, err)
	}
	if len(dsns) > 0 {
		q.schedule(dsns...)
	}
	return next, counts, nil
}

// deliverLocal hands each recipient to the LocalDeliverer.
func (q *Queue) deliverLocal(ctx context.Context, from string, rcpts []string, body []byte) map[string]outcome {
	res := make(map[string]outcome, len(rcpts))
	for _, r := range rcpts {
		if q.opts.Local == nil {
			res[r] = outcome{state: Failed, status: "5.3.0", reply: "5.3.0 no local delivery configured"}
			continue
		}
		err := q.opts.Local.DeliverLocal(ctx, from, r, body)
		if err == nil {
			res[r] = outcome{state: Delivered, reply: "delivered locally", mta: "local"}
			continue
		}
		res[r] = classify(err, "local delivery: ")
	}
	return res
}

// classify turns an error into a per-recipient outcome: temporary when the
// error says so (Temporary() or a 4xx SMTP code) or is a network error,
// permanent when it carries a 5xx code or a Temporary() false.
func classify(err error, prefix string) outcome {
	var se interface{ Temporary() bool }
	if code, enh, msg, ok := smtpReply(err); ok {
		o := outcome{state: Pending, status: enh, reply: fmt.Sprintf("%d %s %s", code, enh, msg)}
		if code >= 500 {
			o.state = Failed
		}
		return o
	}
	reply := prefix + err.Error()
	if errors.As(err, &se) && !se.Temporary() {
		return outcome{state: Failed, status: "5.0.0", reply: reply}
	}
	return outcome{state: Pending, status: "4.0.0", reply: strings.TrimSpace(reply)}
}
