package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"petrel/admin"
	"petrel/config"
	"petrel/imap"
	"petrel/junk"
	"petrel/mailio"
	"petrel/mta"
	"petrel/pop3"
	"petrel/queue"
	"petrel/queue/pgqueue"
	"petrel/store"
	"petrel/store/pgstore"
	"petrel/web"
	"petrel/webmail"
)

// mailStore is what `petrel serve` hands its front-ends: the union of the
// interfaces they declare, and the few methods the wiring here calls.
// *store.Store (bbolt) and *pgstore.Store (PostgreSQL) are two.
type mailStore interface {
	mta.Store
	imap.Store
	pop3.Store
	webmail.Store
	mailio.Store
	junk.Model
	localStore
	listStore
	junkTruster
	admin.Store
}

// localStore is what the queue's local delivery needs (localDeliverer).
type localStore interface {
	AccountByAddress(address string) (*store.Account, error)
	Deliver(ctx context.Context, d *store.Delivery) ([]store.Delivered, error)
}

// listStore is what the web's one-click unsubscribe needs (listRemover).
type listStore interface {
	RemoveMembers(ctx context.Context, list string, addrs []string) ([]string, error)
}

// junkTruster is what the MTA's junk filter writes (junkClassifier).
type junkTruster interface {
	JunkTrust(ctx context.Context, acct uint64, addrs []string) error
}

// The bbolt store serves every front-end.
var (
	_ mailStore     = (*store.Store)(nil)
	_ mta.Store     = (*store.Store)(nil)
	_ imap.Store    = (*store.Store)(nil)
	_ pop3.Store    = (*store.Store)(nil)
	_ webmail.Store = (*store.Store)(nil)
	_ mailio.Store  = (*store.Store)(nil)
	_ junk.Model    = (*store.Store)(nil)

	// So does PostgreSQL's, whose maildrop lock holds across nodes
	_ mailStore   = (*pgstore.Store)(nil)
	_ pop3.Locker = (*pgstore.Store)(nil)
	// and the web mail's sessions are shared.
	_ webmail.SessionStore = (*pgstore.Store)(nil)
)

// openMailStore opens the store cfg names for serve: the bbolt file in
// data_dir (bolt is then the same store, for the admin commands of the
// control socket), or the PostgreSQL database of store.dsn (bolt nil).
func openMailStore(ctx context.Context, cfg *config.Config, log *slog.Logger, m *web.Metrics, junkApplied func(int)) (st mailStore, bolt *store.Store, err error) {
	if cfg.Store.Backend == "postgres" {
		pg, err := pgstore.Open(ctx, cfg.Store.DSN, pgstore.Options{Logger: log.With("svc", "store"), OnAuthBusy: m.AuthShed,
			JunkTokens: junk.Tokens, JunkShared: cfg.Junk.SharedModel, JunkMaxTokens: cfg.Junk.MaxTokens})
		if err != nil {
			return nil, nil, fmt.Errorf("store.dsn: %w (check that PostgreSQL runs and store.dsn or PETREL_STORE_DSN names a database this user may change)", err)
		}
		return pg, nil, nil
	}
	bolt, err = store.Open(filepath.Join(cfg.DataDir, "mail.db"), store.Options{Logger: log, OnCommit: m.StoreCommit, OnAuthBusy: m.AuthShed,
		JunkTokens: junk.Tokens, JunkShared: cfg.Junk.SharedModel, JunkMaxTokens: cfg.Junk.MaxTokens, OnJunkApply: junkApplied})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, nil, fmt.Errorf("%w: another petrel is running with data_dir %s", err, cfg.DataDir)
		}
		return nil, nil, err
	}
	return bolt, bolt, nil
}

// sharedQueue puts the queue where the store is: in PostgreSQL, shared by
// the nodes (queue/pgqueue), or, on bbolt, in data_dir/queue.db (no
// change to the options).
func sharedQueue(st any, cfg *config.Config) func(*queue.Options) {
	return func(o *queue.Options) {
		if pg, ok := st.(*pgstore.Store); ok {
			o.Shared, o.Lease = pgqueue.NewStore(pg.Pool()), cfg.Queue.Lease.Duration
		}
	}
}
