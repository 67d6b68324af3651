package imap

import (
	"context"
	"time"

	"petrel/store"
)

// Store is what the IMAP server needs of the mail store: logins, mailboxes,
// messages read by range, flags, copies and moves, metadata and the change
// events of a mailbox. *store.Store (bbolt) and *pgstore.Store
// (PostgreSQL) are two.
type Store interface {
	MailboxByID(id store.MailboxID) (*store.Mailbox, error)
	Quota(acct uint64) (store.Quota, error)
	AppendWithinQuota(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error)
	List(mbx store.MailboxID) ([]store.Message, error)
	ChangedSince(mbx store.MailboxID, since uint64) ([]store.Message, error)
	Append(ctx context.Context, mbx store.MailboxID, body []byte, flags []string, date time.Time) (store.Delivered, error)
	AppendMany(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error)
	Authenticate(address, password string) (*store.Account, error)
	Copy(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error)
	CreateMailboxSubscribed(ctx context.Context, acct uint64, name, specialUse string, subscribed bool) (*store.Mailbox, error)
	DeleteMailbox(ctx context.Context, acct uint64, name string) error
	ExpungeDeleted(ctx context.Context, mbx store.MailboxID, within []store.UID) ([]store.UID, error)
	MailboxByName(acct uint64, name string) (*store.Mailbox, error)
	Mailboxes(acct uint64) ([]store.Mailbox, error)
	Messages(mbx store.MailboxID, uids []store.UID) ([]store.Message, error)
	// MessagesInto is Messages appending to buf[:0]: FETCH reuses arrays.
	MessagesInto(buf []store.Message, mbx store.MailboxID, uids []store.UID) ([]store.Message, error)
	Metadata(acct uint64, mbx store.MailboxID, names []string, depth int) ([]store.MetadataEntry, error)
	Move(ctx context.Context, src store.MailboxID, uids []store.UID, dst store.MailboxID) (*store.CopyResult, error)
	ReadContents(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, structure *store.Part) error) error
	// ReadEnvelopes is ReadContents for FETCH ENVELOPE: the top envelope
	// of each, read without the message.
	ReadEnvelopes(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, env *store.Envelope) error) error
	ReadHeaders(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, bodyStart int64) error) error
	RenameMailbox(ctx context.Context, acct uint64, oldName, newName string) error
	SetMetadata(ctx context.Context, acct uint64, mbx store.MailboxID, entries []store.MetadataEntry) error
	SetSubscribed(ctx context.Context, acct uint64, name string, subscribed bool) error
	StoreFlags(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string) ([]store.Message, error)
	StoreFlagsIf(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []store.UID, error)
	Subscriptions(acct uint64) ([]string, error)
	Vanished(mbx store.MailboxID, since uint64) ([]store.UID, error)
	Watch(id store.MailboxID, fn func(store.Event)) (*store.Snapshot, func(), error)
}
