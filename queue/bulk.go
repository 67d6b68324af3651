package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EnqueueEach queues len(rcpts) messages from one envelope sender in one
// commit: msgs[i] for rcpts[i] alone. It is for mail that differs per
// recipient (a mailing list's copies, each with the member's own
// List-Unsubscribe), where Enqueue per recipient would cost an fsync each.
// Like Enqueue, it returns after the commit, with the queue IDs in order.
func (q *Queue) EnqueueEach(ctx context.Context, from string, rcpts []string, msgs [][]byte) ([]string, error) {
	if len(rcpts) != len(msgs) {
		return nil, fmt.Errorf("queue: enqueue each: %d recipients for %d messages", len(rcpts), len(msgs))
	}
	if len(rcpts) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: enqueue each: %w", err)
	}
	now := time.Now()
	items := make([]*Item, len(rcpts))
	for i, r := range rcpts {
		if domainOf(r) == "" {
			return nil, fmt.Errorf("queue: enqueue each: recipient %q has no domain", r)
		}
		items[i] = &Item{ID: newID(now), From: from, Arrived: now, Size: len(msgs[i]),
			Rcpts: []Rcpt{{Addr: r, State: Pending, NextAttempt: now}}}
	}
	err := q.rec.update(ctx, false, func(tx recTx) error {
		for i, it := range items {
			if err := tx.put(it, msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: enqueue each: %w", err)
	}
	q.schedule(items...)
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids, nil
}

// EnqueueDSN queues a delivery status notification (RFC 3464, as the queue
// sends for its own failures) to from, saying that the message msg, which
// the caller accepted as id, could not be delivered to the failed
// recipients (their Addr, Status and LastReply). It is for recipients an
// SMTP server refuses after it has accepted the message for others (a
// mail loop, a mailing list's posting policy). Nothing is sent to the null
// sender, and it returns "" then.
func (q *Queue) EnqueueDSN(ctx context.Context, id, from string, failed []Rcpt, msg []byte) (string, error) {
	if len(failed) == 0 {
		return "", errors.New("queue: dsn: no failed recipients")
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("queue: dsn: %w", err)
	}
	now := time.Now()
	it := &Item{ID: id, From: from, Arrived: now, Size: len(msg)}
	var rcpts []Rcpt
	for _, r := range failed {
		r.State = Failed
		if r.Status == "" {
			r.Status = "5.0.0"
		}
		r.LastReply = strings.TrimSpace(r.LastReply)
		rcpts = append(rcpts, r)
	}
	var dsn *Item
	err := q.rec.update(ctx, false, func(tx recTx) error {
		var err error
		dsn, err = q.dsnTx(tx, it, msg, rcpts, actionFailed, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("queue: dsn: %w", err)
	}
	if dsn == nil {
		return "", nil
	}
	q.schedule(dsn)
	return dsn.ID, nil
}
