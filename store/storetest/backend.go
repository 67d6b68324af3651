package storetest

import (
	"context"
	"io"
	"testing"
	"time"

	"petrel/store"
)

// Backend is the store as the front-ends use it (mta, imap, pop3, the web
// mail, junk, mailio, the queue's local delivery, the admin commands):
// accounts and authentication, mailboxes, delivery and APPEND, listing,
// flags, COPY/MOVE/EXPUNGE, contents read by range, watching a mailbox,
// aliases, and what each front-end needs besides (CONDSTORE/QRESYNC,
// METADATA, pages, lists, junk models). Every exported method of
// *store.Store that a package outside store calls is here, but for the
// bbolt file's own (BackupSized, and the Dump/Load pair of `store copy`). *store.Store (bbolt)
// and *pgstore.Store (PostgreSQL) implement it; Run checks that they keep
// the contract of the store package's doc.
type Backend interface {
	Close() error

	Quota(acct uint64) (store.Quota, error)
	SetQuota(ctx context.Context, address string, storageLimit, messageLimit int64) error
	AppendWithinQuota(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error)
	ChangedSince(mbx store.MailboxID, since uint64) ([]store.Message, error)
	JunkApplyPending(ctx context.Context) (int, error)
	JunkJudge(acct uint64, senders, toks []string, counts []store.JunkCounts) (store.JunkStats, bool, error)

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
	MessagesInto(buf []store.Message, mbx store.MailboxID, uids []store.UID) ([]store.Message, error)
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
	ReadEnvelopes(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, env *store.Envelope) error) error
	Watch(id store.MailboxID, fn func(store.Event)) (*store.Snapshot, func(), error)

	SetAlias(ctx context.Context, address string, targets []string, o store.ResolveOptions) (*store.Resolution, error)
	DeleteAlias(ctx context.Context, address string) error
	Aliases() ([]store.Alias, error)
	ResolveAddress(address string, o store.ResolveOptions) (*store.Resolution, error)

	// IMAP: CONDSTORE/QRESYNC, subscriptions, METADATA.
	CreateMailboxSubscribed(ctx context.Context, acct uint64, name, specialUse string, subscribed bool) (*store.Mailbox, error)
	Subscriptions(acct uint64) ([]string, error)
	StoreFlagsIf(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []store.UID, error)
	Vanished(mbx store.MailboxID, since uint64) ([]store.UID, error)
	Metadata(acct uint64, mbx store.MailboxID, names []string, depth int) ([]store.MetadataEntry, error)
	SetMetadata(ctx context.Context, acct uint64, mbx store.MailboxID, entries []store.MetadataEntry) error

	// The web mail, mailio's import, the submission sender check.
	Page(mbx store.MailboxID, anchor store.UID, n int, older bool) ([]store.Message, error)
	AliasesOf(address string) ([]string, error)
	AppendMany(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error)

	// Mailing lists (mta's expansion and bounces, the admin commands).
	CreateList(ctx context.Context, l store.List) (*store.List, error)
	UpdateList(ctx context.Context, l store.List) error
	DeleteList(ctx context.Context, address string) error
	MailingList(address string) (*store.List, error)
	MailingLists() ([]store.List, error)
	AddMembers(ctx context.Context, list string, addrs []string) ([]string, error)
	RemoveMembers(ctx context.Context, list string, addrs []string) ([]string, error)
	Members(list string) ([]store.Member, error)
	ListMember(list, addr string) (*store.Member, error)
	RecordBounce(ctx context.Context, list, member string, when time.Time, days int) (bool, error)

	// The junk models (package junk's Model, Trainer, StatsReader; the
	// admin commands).
	JunkTrain(ctx context.Context, acct uint64, id []byte, toks []string, class store.JunkClass) (bool, error)
	JunkTrainMany(ctx context.Context, acct uint64, samples []store.JunkSample) (int, error)
	JunkLookup(acct uint64, toks []string, counts []store.JunkCounts) (store.JunkStats, error)
	JunkStatsOf(acct uint64) (store.JunkStats, error)
	JunkTrusted(acct uint64, addr string) (bool, error)
	JunkModelSize(acct uint64) (int64, error)
	JunkTrust(ctx context.Context, acct uint64, addrs []string) error

	// Admin.
	Reindex(ctx context.Context, progress func(done, total int)) (int, error)
}

// JunkOptions configure a backend that trains junk models (store.Options'
// and pgstore.Options' fields of the same names).
type JunkOptions struct {
	Tokens    func(io.Reader) []string
	Shared    bool
	MaxTokens int
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
	// NewJunk is New for a store that trains junk models with o.
	NewJunk func(t testing.TB, o JunkOptions) Backend
}

var _ Backend = (*store.Store)(nil)
