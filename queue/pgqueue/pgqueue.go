// Package pgqueue owns the outbound queue's units of work (one message and
// one destination domain) when several nodes share a PostgreSQL store:
// which units are due, and which node is delivering which, by leases. Any
// node may deliver any unit; a node that dies mid-delivery loses its lease
// when it runs out, and another node takes the unit: duplicates are
// possible after a crash, losses never. Per-domain concurrency limits hold
// across nodes.
//
// Its tables are part of the store's schema (store/pgstore's migrations).
// Store (store.go) is the whole queue on PostgreSQL for package queue
// (queue.Shared): the messages in queue_items and their units here, written
// together; `petrel serve` uses it when store.backend = "postgres".
//
// Invariants:
//
//   - A unit is leased by at most one owner at a time: Claim takes units
//     with FOR UPDATE SKIP LOCKED, so claimers never wait for each other's
//     rows and never take the same unit, and sets the lease in the same
//     transaction.
//   - Claims are serialised by one advisory lock, held only while a claim
//     counts and takes (no network I/O): the per-domain count it checks
//     is exact across nodes.
//   - Done and Retry act only while the caller still holds the lease
//     (ErrLeaseLost otherwise): a node whose lease ran out cannot undo the
//     work of the node that took the unit over.
package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrLeaseLost is returned by Renew, Done and Retry when the lease ran out
// and the unit may be another owner's now.
var ErrLeaseLost = errors.New("lease lost: another node may be delivering this unit")

// Unit is one message to one domain, leased to an owner.
type Unit struct {
	ID, Domain string
	Attempts   int
	Owner      string
	Until      time.Time // the lease's end, by the database's clock
}

// Leases is the queue's units in one database.
type Leases struct {
	pool *pgxpool.Pool
}

// New returns the leases kept in pool's database (its schema migrated by
// store/pgstore).
func New(pool *pgxpool.Pool) *Leases { return &Leases{pool: pool} }

// claimLock is the advisory lock key of Claim ("claim").
const claimLock = 0x636c61696d

// Add makes units of message id, one per domain, due at at.
func (l *Leases) Add(ctx context.Context, id string, domains []string, at time.Time) error {
	b := &pgx.Batch{}
	for _, d := range domains {
		b.Queue("INSERT INTO queue_units (id, domain, next_attempt) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", id, d, at)
	}
	if err := l.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue add %s: %w", id, err)
	}
	return nil
}

// Claim leases to owner, for lease, up to max due units whose lease (if
// any) has run out, oldest due first, leaving out the units of a domain
// that already has perDomain units leased (to any owner).
func (l *Leases) Claim(ctx context.Context, owner string, lease time.Duration, perDomain, max int) ([]Unit, error) {
	var out []Unit
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", claimLock); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT domain, count(*) FROM queue_units WHERE lease_until > now() GROUP BY domain")
		busy := map[string]int{}
		for rows.Next() {
			var d string
			var n int
			if err := rows.Scan(&d, &n); err != nil {
				rows.Close()
				return err
			}
			busy[d] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Candidates: a few times max, so that full domains do not
		// starve the others.
		rows, _ = tx.Query(ctx, `SELECT id, domain, attempts FROM queue_units
			WHERE next_attempt <= now() AND (lease_until IS NULL OR lease_until <= now())
			ORDER BY next_attempt LIMIT $1 FOR UPDATE SKIP LOCKED`, 4*max)
		var take []Unit
		for rows.Next() {
			var u Unit
			if err := rows.Scan(&u.ID, &u.Domain, &u.Attempts); err != nil {
				rows.Close()
				return err
			}
			if len(take) < max && busy[u.Domain] < perDomain {
				busy[u.Domain]++
				take = append(take, u)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, u := range take {
			err := tx.QueryRow(ctx, `UPDATE queue_units SET lease_owner = $3, lease_until = now() + $4::interval
				WHERE id = $1 AND domain = $2 RETURNING lease_until`, u.ID, u.Domain, owner, lease.String()).Scan(&u.Until)
			if err != nil {
				return err
			}
			u.Owner = owner
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue claim: %w", err)
	}
	return out, nil
}

// held runs an UPDATE or DELETE that names the unit and its owner and
// requires a running lease; none affected is ErrLeaseLost.
func (l *Leases) held(ctx context.Context, what, sql string, u Unit, args ...any) error {
	tag, err := l.pool.Exec(ctx, sql, append([]any{u.ID, u.Domain, u.Owner}, args...)...)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("queue %s %s/%s: %w", what, u.ID, u.Domain, err)
	}
	return nil
}

const owned = "id = $1 AND domain = $2 AND lease_owner = $3 AND lease_until > now()"

// Renew extends u's lease by lease from now, while it is still held.
func (l *Leases) Renew(ctx context.Context, u *Unit, lease time.Duration) error {
	err := l.pool.QueryRow(ctx, "UPDATE queue_units SET lease_until = now() + $4::interval WHERE "+owned+" RETURNING lease_until",
		u.ID, u.Domain, u.Owner, lease.String()).Scan(&u.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("queue renew %s/%s: %w", u.ID, u.Domain, err)
	}
	return nil
}

// Done removes u: its delivery is finished (delivered or failed).
func (l *Leases) Done(ctx context.Context, u Unit) error {
	return l.held(ctx, "done", "DELETE FROM queue_units WHERE "+owned, u)
}

// Retry gives u back, due again at at.
func (l *Leases) Retry(ctx context.Context, u Unit, at time.Time) error {
	return l.held(ctx, "retry", "UPDATE queue_units SET lease_owner = NULL, lease_until = NULL, next_attempt = $4, attempts = attempts + 1 WHERE "+owned, u, at)
}

// Pending counts the units not yet done.
func (l *Leases) Pending(ctx context.Context) (int, error) {
	var n int
	err := l.pool.QueryRow(ctx, "SELECT count(*) FROM queue_units").Scan(&n)
	return n, err
}

// Leased counts the units leased now (lease not run out), per domain.
func (l *Leases) Leased(ctx context.Context) (map[string]int, error) {
	rows, _ := l.pool.Query(ctx, "SELECT domain, count(*) FROM queue_units WHERE lease_until > now() GROUP BY domain")
	out := map[string]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out[d] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue leased: %w", err)
	}
	return out, nil
}
