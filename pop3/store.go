package pop3

import (
	"context"

	"petrel/store"
)

// Store is what the POP3 server needs of the mail store: logins, the
// INBOX, message contents, the \Seen flag and expunges. *store.Store
// (bbolt) and *pgstore.Store (PostgreSQL) are two.
type Store interface {
	Authenticate(address, password string) (*store.Account, error)
	Expunge(ctx context.Context, mbx store.MailboxID, uids []store.UID) ([]store.UID, error)
	List(mbx store.MailboxID) ([]store.Message, error)
	MailboxByName(acct uint64, name string) (*store.Mailbox, error)
	ReadRaw(mbx store.MailboxID, uid store.UID, fn func(c *store.Content) error) error
	StoreFlags(ctx context.Context, mbx store.MailboxID, uids []store.UID, op store.FlagOp, flags []string) ([]store.Message, error)
}
