package mailio

import (
	"context"

	"petrel/store"
)

// Store is what import and export need of the mail store: mailboxes,
// appends in batches and message contents. *store.Store (bbolt) and
// *pgstore.Store (PostgreSQL) are two.
type Store interface {
	AppendMany(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error)
	CreateMailbox(ctx context.Context, acct uint64, name, specialUse string) (*store.Mailbox, error)
	List(mbx store.MailboxID) ([]store.Message, error)
	MailboxByName(acct uint64, name string) (*store.Mailbox, error)
	Mailboxes(acct uint64) ([]store.Mailbox, error)
	ReadMessage(mbx store.MailboxID, uid store.UID) ([]byte, error)
}
