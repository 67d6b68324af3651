package main

import (
	"context"

	"petrel/imap"
	"petrel/junk"
	"petrel/mailio"
	"petrel/mta"
	"petrel/pop3"
	"petrel/store"
	"petrel/webmail"
)

// mailStore is what `petrel serve` hands its front-ends: the union of the
// interfaces they declare, and the few methods the wiring here calls.
// *store.Store (bbolt) is one; *pgstore.Store (PostgreSQL) is checked
// against it when serve opens it (pgStore).
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
	CreateAccount(ctx context.Context, address, password string) (*store.Account, error)
	Close() error
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
)
