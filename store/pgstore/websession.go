package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// The web mail's sessions (webmail.SessionStore), in web_sessions, so that
// a browser logged in through one node is logged in on every node. Keys
// are hashes of the cookies' tokens (the web mail never hands over a
// token). A session goes with its account (ON DELETE CASCADE).

// PutWebSession stores a new session.
func (s *Store) PutWebSession(ctx context.Context, w store.WebSession) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO web_sessions (key, account, address, csrf, created, last_seen) VALUES ($1, $2, $3, $4, $5, $6)",
		w.Key, int64(w.Account), w.Address, w.CSRF, w.Created, w.LastSeen)
	if err != nil {
		return fmt.Errorf("web session: store: %w", err)
	}
	return nil
}

// WebSession returns the session of key, or nil when there is none.
func (s *Store) WebSession(ctx context.Context, key string) (*store.WebSession, error) {
	w := store.WebSession{Key: key}
	var acct int64
	err := s.pool.QueryRow(ctx, "SELECT account, address, csrf, created, last_seen FROM web_sessions WHERE key = $1", key).
		Scan(&acct, &w.Address, &w.CSRF, &w.Created, &w.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web session: read: %w", err)
	}
	w.Account = uint64(acct)
	return &w, nil
}

// TouchWebSession sets the session's last use to at.
func (s *Store) TouchWebSession(ctx context.Context, key string, at time.Time) error {
	return s.webExec(ctx, "touch", "UPDATE web_sessions SET last_seen = $2 WHERE key = $1", key, at)
}

// SetWebFlash sets the message the session's next page shows.
func (s *Store) SetWebFlash(ctx context.Context, key, flash string) error {
	return s.webExec(ctx, "flash", "UPDATE web_sessions SET flash = $2 WHERE key = $1", key, flash)
}

// TakeWebFlash returns the session's flash and clears it, in one
// statement: two pages loading at once show it once.
func (s *Store) TakeWebFlash(ctx context.Context, key string) (string, error) {
	var f string
	err := s.pool.QueryRow(ctx, `UPDATE web_sessions w SET flash = '' FROM
		(SELECT key, flash FROM web_sessions WHERE key = $1 FOR UPDATE) old
		WHERE w.key = old.key RETURNING old.flash`, key).Scan(&f)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("web session: flash: %w", err)
	}
	return f, nil
}

// DeleteWebSession ends the session of key.
func (s *Store) DeleteWebSession(ctx context.Context, key string) error {
	return s.webExec(ctx, "delete", "DELETE FROM web_sessions WHERE key = $1", key)
}

// DeleteWebSessions ends every session of acct but keep's.
func (s *Store) DeleteWebSessions(ctx context.Context, acct uint64, keep string) error {
	return s.webExec(ctx, "delete the account's", "DELETE FROM web_sessions WHERE account = $1 AND key <> $2", int64(acct), keep)
}

// PruneWebSessions deletes the sessions last used before idle or made
// before old.
func (s *Store) PruneWebSessions(ctx context.Context, idle, old time.Time) error {
	return s.webExec(ctx, "prune", "DELETE FROM web_sessions WHERE last_seen < $1 OR created < $2", idle, old)
}

func (s *Store) webExec(ctx context.Context, what, sql string, args ...any) error {
	if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("web session: %s: %w", what, err)
	}
	return nil
}
