package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"petrel/admin"
	"petrel/config"
	"petrel/imap"
	"petrel/junk"
	"petrel/mailio"
	"petrel/mta"
	"petrel/pop3"
	"petrel/store"
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

// openMailStore opens the store cfg names for serve (admin.OpenStore):
// bolt is the same store on bbolt, nil on PostgreSQL.
func openMailStore(ctx context.Context, cfg *config.Config, log *slog.Logger, m *web.Metrics, junkApplied func(int)) (mailStore, *store.Store, error) {
	st, bolt, err := admin.OpenStore(ctx, cfg, admin.StoreOptions{Logger: log, OnCommit: m.StoreCommit, OnAuthBusy: m.AuthShed, OnJunkApply: junkApplied})
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fmt.Errorf("%w: another petrel is running with data_dir %s", err, cfg.DataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	ms, ok := st.(mailStore)
	if !ok { // stores_test.go checks both stores at compile time
		st.Close()
		return nil, nil, fmt.Errorf("store.backend = %q: this store does not serve every front-end", cfg.Store.Backend)
	}
	return ms, bolt, nil
}
