package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// maildropLockSpace is the first key of the POP3 maildrop locks ("pop3");
// the second is the account's ID. PostgreSQL's two-key advisory locks do
// not overlap the one-key ones (migrations, the queue's claims).
const maildropLockSpace = 0x706f7033

// LockMaildrop takes account acct's POP3 maildrop lock for every node
// sharing the database (RFC 1939's exclusive access): a session-level
// advisory lock on a connection of its own, outside the pool, held until
// release closes it. ok is false when another session holds the lock.
//
// The lock lives as long as that connection: if PostgreSQL restarts or
// the connection breaks, it is gone and another session may take the
// maildrop. That breaks no store invariant (expunges are idempotent and
// flags are set, not toggled); it only lets two POP3 sessions see the
// same messages.
func (s *Store) LockMaildrop(ctx context.Context, acct uint64) (release func(), ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("maildrop lock of account %d: %w", acct, err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1::int4, $2::int4)", maildropLockSpace, int32(acct)).Scan(&ok); err != nil || !ok {
		conn.Close(context.Background())
		if err != nil {
			return nil, false, fmt.Errorf("maildrop lock of account %d: %w", acct, err)
		}
		return nil, false, nil
	}
	return func() {
		// Unlocked before the close returns (a closed session's locks
		// go only when its backend has ended, a moment later); if that
		// fails, the close releases it.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Exec(cctx, "SELECT pg_advisory_unlock($1::int4, $2::int4)", maildropLockSpace, int32(acct))
		conn.Close(cctx)
	}, true, nil
}
