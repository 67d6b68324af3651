package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"petrel/queue"
)

// Store is the whole outbound queue in PostgreSQL (queue.Shared): the
// messages in queue_items (their records, as package queue encodes them,
// and bodies), and their units in queue_units, leased as Leases does. A
// message's units are written in the transaction that writes the message:
// a unit never names a missing message, and a message with pending
// recipients always has its units.
type Store struct {
	pool   *pgxpool.Pool
	leases *Leases
}

var _ queue.Shared = (*Store)(nil)

// NewStore returns the queue kept in pool's database (its schema migrated
// by store/pgstore).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, leases: New(pool)} }

// Update runs fn in one transaction, committed with the server's
// synchronous commit.
func (s *Store) Update(ctx context.Context, fn func(queue.SharedTx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(&sharedTx{ctx: ctx, tx: tx}) })
	if err != nil {
		return fmt.Errorf("queue update: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(queue.SharedTx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(&sharedTx{ctx: ctx, tx: tx, view: true})
	})
	if err != nil {
		return fmt.Errorf("queue view: %w", err)
	}
	return nil
}

// Stats counts the messages and says when the oldest arrived: those still
// queued, which have units (a retired entry, queue.Item.Finished, has
// none).
func (s *Store) Stats(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest *time.Time
	const q = `SELECT count(*), min(arrived) FROM queue_items i
		WHERE EXISTS (SELECT 1 FROM queue_units u WHERE u.id = i.id)`
	if err := s.pool.QueryRow(ctx, q).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("queue stats: %w", err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}

// Claim is Leases.Claim.
func (s *Store) Claim(ctx context.Context, owner string, lease time.Duration, perDomain, max int) ([]queue.Lease, error) {
	units, err := s.leases.Claim(ctx, owner, lease, perDomain, max)
	out := make([]queue.Lease, len(units))
	for i, u := range units {
		out[i] = queue.Lease{ID: u.ID, Domain: u.Domain, Owner: u.Owner}
	}
	return out, err
}

// Renew is Leases.Renew.
func (s *Store) Renew(ctx context.Context, l queue.Lease, lease time.Duration) error {
	return s.leases.Renew(ctx, &Unit{ID: l.ID, Domain: l.Domain, Owner: l.Owner}, lease)
}

// Release gives l's unit back if l still holds it, leaving its next
// attempt as the message's last write set it; a unit gone (the message
// finished for that domain) or taken over is no error.
func (s *Store) Release(ctx context.Context, l queue.Lease) error {
	_, err := s.pool.Exec(ctx, "UPDATE queue_units SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND domain = $2 AND lease_owner = $3",
		l.ID, l.Domain, l.Owner)
	if err != nil {
		return fmt.Errorf("queue release %s/%s: %w", l.ID, l.Domain, err)
	}
	return nil
}

// sharedTx is one transaction of Update or View.
type sharedTx struct {
	ctx  context.Context
	tx   pgx.Tx
	view bool
}

// Get returns message id's record (locking its row in Update, so that two
// nodes recording attempts on one message take turns), nil when absent.
func (t *sharedTx) Get(id string) ([]byte, error) {
	q := "SELECT item FROM queue_items WHERE id = $1"
	if !t.view {
		q += " FOR UPDATE"
	}
	var b []byte
	err := t.tx.QueryRow(t.ctx, q, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue get %s: %w", id, err)
	}
	return b, nil
}

func (t *sharedTx) Body(id string) ([]byte, error) {
	var b []byte
	err := t.tx.QueryRow(t.ctx, "SELECT body FROM queue_items WHERE id = $1", id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue body %s: %w", id, err)
	}
	return b, nil
}

func (t *sharedTx) Put(id string, arrived time.Time, item, body []byte, due map[string]time.Time) error {
	var err error
	if body != nil {
		_, err = t.tx.Exec(t.ctx, `INSERT INTO queue_items (id, arrived, item, body) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET item = EXCLUDED.item, body = EXCLUDED.body`, id, arrived, item, body)
	} else {
		var tag interface{ RowsAffected() int64 }
		tag, err = t.tx.Exec(t.ctx, "UPDATE queue_items SET item = $2 WHERE id = $1", id, item)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("%w: %s", queue.ErrNotFound, id)
		}
	}
	if err != nil {
		return fmt.Errorf("queue put %s: %w", id, err)
	}
	domains := make([]string, 0, len(due))
	b := &pgx.Batch{}
	for d, at := range due {
		domains = append(domains, d)
		b.Queue(`INSERT INTO queue_units (id, domain, next_attempt) VALUES ($1, $2, $3)
			ON CONFLICT (id, domain) DO UPDATE SET next_attempt = EXCLUDED.next_attempt`, id, d, at)
	}
	b.Queue("DELETE FROM queue_units WHERE id = $1 AND NOT (domain = ANY($2))", id, domains)
	if err := t.tx.SendBatch(t.ctx, b).Close(); err != nil {
		return fmt.Errorf("queue put %s units: %w", id, err)
	}
	return nil
}

func (t *sharedTx) Delete(id string) error {
	b := &pgx.Batch{}
	b.Queue("DELETE FROM queue_units WHERE id = $1", id)
	b.Queue("DELETE FROM queue_items WHERE id = $1", id)
	if err := t.tx.SendBatch(t.ctx, b).Close(); err != nil {
		return fmt.Errorf("queue delete %s: %w", id, err)
	}
	return nil
}

func (t *sharedTx) Each(fn func(id string, item []byte) error) error {
	rows, err := t.tx.Query(t.ctx, "SELECT id, item FROM queue_items ORDER BY id")
	if err != nil {
		return fmt.Errorf("queue list: %w", err)
	}
	type rec struct {
		id   string
		item []byte
	}
	var all []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.id, &r.item); err != nil {
			rows.Close()
			return fmt.Errorf("queue list: %w", err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue list: %w", err)
	}
	// fn may write in the same transaction (Retry): not while rows are open.
	for _, r := range all {
		if err := fn(r.id, r.item); err != nil {
			return err
		}
	}
	return nil
}
