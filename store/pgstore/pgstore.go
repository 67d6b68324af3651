// Package pgstore is Petrel's mail store on PostgreSQL: the same contract
// as the embedded bbolt store (the store package's doc), for several Petrel
// nodes sharing one database. It owns the schema (schema.go: versioned,
// migrated at start, a newer one refused), accounts, mailboxes and their
// subscriptions, messages, QRESYNC's expunged UIDs (imap.go), METADATA,
// aliases, mailing lists (list.go), the junk models (junk.go), quota
// limits and usage (quota.go), and the change events that reach watchers
// on every node. Every method the front-ends call on the bbolt store is
// here with the same signature and semantics (storetest.Backend;
// TestFrontEndMethods keeps the list).
//
// Invariants, which every function in this package keeps:
//
//   - Every write is one PostgreSQL transaction, committed with the
//     server's synchronous commit: a method that returns nil made its
//     change durable.
//   - A write locks the rows of the mailboxes it changes (in ID order, so
//     two writers never deadlock on them) before it gives UIDs and MODSEQs:
//     they increase per mailbox in commit order, and UIDs are never reused
//     (uidnext only grows).
//   - Every change to a mailbox writes a row to changes, keyed by mailbox
//     and MODSEQ, in the same transaction, and notifies the channel
//     petrel_changes after the commit (outside it: PostgreSQL serializes
//     the commits of notifying transactions, fsync included); watchers
//     read the rows after the MODSEQ they last saw (events.go), and each
//     node polls its watched mailboxes' MODSEQs every PollInterval, so a
//     lost notification or connection delays an event and never loses it.
//   - The bytes of a delivery are one row of blobs, shared by every copy
//     of the message, stored uncompressed out of line (STORAGE EXTERNAL) so
//     that a range is read without the rest; a blob goes with its last
//     message.
//   - Passwords are hashed and checked by the store package's code
//     (store.HashPassword, store.PasswordCache): argon2id, at most
//     Options.HashWorkers checks at once on a node, store.ErrBusy past
//     its queue.
//   - Every account's quota usage (bytes and messages) is its row of
//     account_usage, changed by triggers on messages in the statement
//     that inserts, deletes or moves a message (quota.go): exact in every
//     commit, read in one row.
//   - Locks are taken in one order: the mailboxes a write changes (by
//     ID), then the usage rows of their accounts (by account; a write to
//     several mailboxes locks them all before it adds or removes a
//     message), then the junk models it trains (the account's, then the
//     shared one). Junk training is part of the write that moved, copied
//     or flagged the message (junk.go).
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"petrel/store"
)

// Options configure a Store.
type Options struct {
	// Logger receives the store's log lines; nil means slog.Default().
	Logger *slog.Logger
	// CheapPasswordHash is store.Options.CheapPasswordHash: tests only.
	CheapPasswordHash bool
	// MaxConns bounds the connection pool (default 16).
	MaxConns int32
	// QueryTimeout bounds the reads that take no context (default 30 s).
	QueryTimeout time.Duration
	// JunkTokens, JunkShared and JunkMaxTokens are store.Options': with
	// JunkTokens, a message moved or copied into or out of Junk, or given
	// $Junk or $NotJunk, trains its account's junk model in the same
	// transaction (junk.go); nil trains nothing.
	JunkTokens    func(io.Reader) []string
	JunkShared    bool
	JunkMaxTokens int
	// HashWorkers, HashQueue and OnAuthBusy are store.Options': the bound
	// on the password hashes Authenticate checks at once on this node,
	// past which it returns store.ErrBusy.
	HashWorkers int
	HashQueue   int
	OnAuthBusy  func()
}

// ChangesKept is how long the changes table keeps a change for watchers
// that catch up (pruned when a node starts, and every hour).
const ChangesKept = 24 * time.Hour

// Store is an open PostgreSQL store. It is safe for concurrent use, and
// several Stores (on several nodes) may share one database.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	opts   Options
	hub    *hub
	auth   *store.PasswordCache
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Open connects to the database at dsn, migrates its schema to this
// version (refusing a newer one: ErrSchemaNewer) and starts listening for
// the changes other nodes make.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store dsn: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if _, _, err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{pool: pool, log: opts.Logger, opts: opts, auth: store.NewPasswordCache(opts.HashWorkers, opts.HashQueue), ctx: sctx, cancel: cancel}
	s.hub = newHub(s)
	s.wg.Add(5)
	go s.hub.listen(cfg.ConnConfig)
	go s.hub.dispatch()
	go s.hub.poll(PollInterval)
	go s.hub.notifyLoop()
	go s.pruneLoop(time.Hour)
	return s, nil
}

// Close stops listening and closes the connections. Writes in flight end
// with an error or their commit; none is left half-made.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// Pool is the store's connection pool, for the packages that keep their own
// tables in the same database (the queue).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// readCtx is the context of a read that takes none.
func (s *Store) readCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.opts.QueryTimeout)
}

// update runs fn in a read-committed transaction and commits it, again
// from the start (up to 5 times) when PostgreSQL ends it for a deadlock or
// a serialization failure, or fn returns errRetry, which change nothing.
func (s *Store) update(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range 5 {
		w := &writeTx{hub: s.hub}
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			w.Tx = tx
			return fn(w)
		})
		if err != nil {
			w.forget()
		} else {
			s.notify(w.notes)
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") || errors.Is(err, errRetry) {
			continue
		}
		return err
	}
	return err
}

// errRetry ends a write transaction to run it again from the start: what
// it read changed under it (a delivery's folder deleted meanwhile).
var errRetry = errors.New("changed meanwhile; try again")

// view runs fn in a read-only repeatable-read transaction: one consistent
// state of the database.
func (s *Store) view(fn func(context.Context, pgx.Tx) error) error {
	ctx, cancel := s.readCtx()
	defer cancel()
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(ctx, tx)
	})
}

// isUnique reports a unique-constraint violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
