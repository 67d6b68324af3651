package storetest

import (
	"context"
	"testing"
	"time"

	"petrel/store"
)

// Backend is the store as the front-ends use it today (mta, imap, pop3,
// mailio, the queue's local delivery): accounts and authentication,
// mailboxes, delivery and APPEND, listing, flags, COPY/MOVE/EXPUNGE,
// contents read by range, watching a mailbox, aliases. *store.Store (bbolt)
// and *pgstore.Store (PostgreSQL) implement it; Run checks that they keep
// the contract of the store package's doc.
type Backend interface {
	Close() error

	CreateAccount(ctx context.Context, address, password string) (*store.Account, error)
	SetPassword(ctx context.Context, address, password string) error
	DeleteAccount(ctx context.Context, address string) error
	Accounts() ([]store.Account, error)
	AccountByAddress(address string) (*store.Account, error)
	AccountByID(id uint64) (*store.Account, error)
	Authenticate(address, password string) (*store.Account, error)

	Mailboxes(acct uint64) ([]store.Mailbox, error)
	MailboxByName(acct uint64, name string) (*store.Mailbox, error)
	MailboxByID(id store.MailboxID) (*store.Mailbox, error)
	CreateMailbox(ctx context.Context, acct uint64, name, specialUse string) (*store.Mailbox, error)
	DeleteMailbox(ctx context.Context, acct uint64, name string) error
	RenameMailbox(ctx context.Context, acct uint64, oldName, newName string) error
	SetSubscribed(ctx context.Context, acct uint64, name string, subscribed bool) error

	Deliver(ctx context.Context, d *store.Delivery) ([]store.Delivered, error)
	Append(ctx context.Context, mbx store.MailboxID, body []byte, flags []string, date time.Time) (store.Delivered, error)
	List(mbx store.MailboxID) ([]store.Message, error)
	Messages(mbx store.MailboxID, uids []store.UID) ([]store.Message, error)
	StoreFlags(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string) ([]store.Message, error)
	Expunge(ctx context.Context, mbx store.MailboxID, uids []store.UID) ([]store.UID, error)
	ExpungeDeleted(ctx context.Context, mbx store.MailboxID, within []store.UID) ([]store.UID, error)
	Copy(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error)
	Move(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error)
	ReadMessage(mbx store.MailboxID, uid store.UID) ([]byte, error)
	ReadRange(mbx store.MailboxID, uid store.UID, off, n int64) ([]byte, error)
	ReadContent(mbx store.MailboxID, uid store.UID, fn func(c *store.Content, structure *store.Part) error) error
	ReadRaw(mbx store.MailboxID, uid store.UID, fn func(c *store.Content) error) error
	Structure(mbx store.MailboxID, uid store.UID) (*store.Part, error)
	ReadContents(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, structure *store.Part) error) error
	ReadHeaders(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, bodyStart int64) error) error
	Watch(id store.MailboxID, fn func(store.Event)) (*store.Snapshot, func(), error)

	SetAlias(ctx context.Context, address string, targets []string, o store.ResolveOptions) (*store.Resolution, error)
	DeleteAlias(ctx context.Context, address string) error
	Aliases() ([]store.Alias, error)
	ResolveAddress(address string, o store.ResolveOptions) (*store.Resolution, error)
}

// Factory makes the backends of one conformance test.
type Factory struct {
	// New returns a new, empty store, closed when t ends.
	New func(t testing.TB) Backend
	// Peer returns another handle on b's data, as another node sharing
	// its database would have (its own connections, its own watchers),
	// closed when t ends. Nil for a backend that one process owns: the
	// tests then use b itself.
	Peer func(t testing.TB, b Backend) Backend
	// Reopen closes b and opens its data again, as a restarted server
	// would, closed when t ends.
	Reopen func(t testing.TB, b Backend) Backend
}

var _ Backend = (*store.Store)(nil)
