package admin

import (
	"context"

	"petrel/junk"
	"petrel/mailio"
	"petrel/store"
)

// Store is what the admin commands do to the mail store: accounts,
// aliases, lists, import and export, junk training, reindexing. The bbolt
// *store.Store and PostgreSQL's *pgstore.Store are two.
type Store interface {
	Quota(acct uint64) (store.Quota, error)
	SetQuota(ctx context.Context, address string, storageLimit, messageLimit int64) error
	mailio.Store
	junk.Trainer
	junk.StatsReader
	AccountByAddress(address string) (*store.Account, error)
	Deliver(ctx context.Context, d *store.Delivery) ([]store.Delivered, error)
	RemoveMembers(ctx context.Context, list string, addrs []string) ([]string, error)
	CreateAccount(ctx context.Context, address, password string) (*store.Account, error)
	SetPassword(ctx context.Context, address, password string) error
	DeleteAccount(ctx context.Context, address string) error
	Accounts() ([]store.Account, error)
	Aliases() ([]store.Alias, error)
	SetAlias(ctx context.Context, address string, targets []string, o store.ResolveOptions) (*store.Resolution, error)
	DeleteAlias(ctx context.Context, address string) error
	MailingList(address string) (*store.List, error)
	MailingLists() ([]store.List, error)
	CreateList(ctx context.Context, l store.List) (*store.List, error)
	UpdateList(ctx context.Context, l store.List) error
	DeleteList(ctx context.Context, address string) error
	Members(list string) ([]store.Member, error)
	AddMembers(ctx context.Context, list string, addrs []string) ([]string, error)
	Reindex(ctx context.Context, progress func(done, total int)) (int, error)
	Close() error
}

var _ Store = (*store.Store)(nil)
