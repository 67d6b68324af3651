package mta

import (
	"context"
	"time"

	"petrel/store"
)

// Store is what the MTA needs of the mail store: accounts and their
// passwords, address resolution, delivery into mailboxes and the mailing
// lists. *store.Store (bbolt) and *pgstore.Store (PostgreSQL) are two.
type Store interface {
	Quota(acct uint64) (store.Quota, error)
	Accounts() ([]store.Account, error)
	AliasesOf(address string) ([]string, error)
	Authenticate(address, password string) (*store.Account, error)
	Deliver(ctx context.Context, d *store.Delivery) ([]store.Delivered, error)
	MailingList(address string) (*store.List, error)
	Members(list string) ([]store.Member, error)
	RecordBounce(ctx context.Context, list, member string, when time.Time, days int) (disabled bool, err error)
	ResolveAddress(address string, o store.ResolveOptions) (*store.Resolution, error)
}
