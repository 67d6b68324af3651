package mailio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"petrel/store"
)

// Batch limits: a batch is one bbolt transaction, so it is bounded in bytes
// as well as in messages.
const (
	batchMessages = 500
	batchBytes    = 16 << 20
)

// ImportOptions configure an import.
type ImportOptions struct {
	// Mailbox receives the messages of an mbox, or of a Maildir's root
	// folder (its subfolders go under it); "" means INBOX, with Maildir
	// subfolders at the top level.
	Mailbox string
	// Variant is the mbox dialect (MboxRD by default).
	Variant Variant
	// GmailLabels files mbox messages by their X-Gmail-Labels header
	// (Gmail Takeout), into every mailbox their labels name, and those
	// with no folder label into Archive. Mailbox is then ignored.
	GmailLabels bool
	// Progress, if set, is called with the number of messages stored so
	// far and the total, after each batch is durable.
	Progress func(done, total int)
	// Logger receives warnings about skipped messages; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Result says what an import or export did.
type Result struct {
	Messages  int      // source messages imported or exported
	Copies    int      // messages stored (a Gmail message with two labels counts twice)
	Bytes     int64    // bytes stored or written
	Skipped   int      // messages left out (too big, unreadable); see the log
	Mailboxes []string // mailboxes that received or gave messages
	Created   []string // mailboxes the import had to create
	// DroppedKeywords counts keywords an export could not write: Maildir
	// has 26 keyword letters per folder.
	DroppedKeywords int
	// Shortened are the mailboxes an export wrote under a shortened
	// folder name (theirs was longer than a file name may be); Failed
	// those it could not write (the others were written).
	Shortened []string
	Failed    []string
}

// batcher collects messages per mailbox and appends them in batches.
type batcher struct {
	ctx     context.Context
	st      Store
	acct    uint64
	opts    *ImportOptions
	res     *Result
	total   int
	ids     map[string]store.MailboxID
	pending map[store.MailboxID][]store.AppendItem
	order   []store.MailboxID
	n       int   // messages pending
	size    int64 // bytes pending
	queued  int   // source messages queued so far
}

func newBatcher(ctx context.Context, st Store, acct uint64, opts *ImportOptions, total int) *batcher {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &batcher{ctx: ctx, st: st, acct: acct, opts: opts, res: &Result{}, total: total,
		ids: map[string]store.MailboxID{}, pending: map[store.MailboxID][]store.AppendItem{}}
	b.progress()
	return b
}

func (b *batcher) progress() {
	if b.opts.Progress != nil {
		b.opts.Progress(b.res.Messages, b.total)
	}
}

// mailbox finds or creates the named mailbox of the account.
func (b *batcher) mailbox(name string) (store.MailboxID, error) {
	if name == "" {
		name = "INBOX"
	}
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return 0, fmt.Errorf("mailbox %q: %w", name, err)
	}
	if id, ok := b.ids[n]; ok {
		return id, nil
	}
	m, err := b.st.MailboxByName(b.acct, n)
	if errors.Is(err, store.ErrNoMailbox) {
		m, err = b.st.CreateMailbox(b.ctx, b.acct, n, "")
		if errors.Is(err, store.ErrMailboxExists) {
			m, err = b.st.MailboxByName(b.acct, n)
		} else if err == nil {
			b.res.Created = append(b.res.Created, n)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("mailbox %q: %w", n, err)
	}
	b.ids[n] = m.ID
	if !slices.Contains(b.res.Mailboxes, n) {
		b.res.Mailboxes = append(b.res.Mailboxes, n)
	}
	return m.ID, nil
}

// add queues one source message for the given mailboxes.
func (b *batcher) add(mailboxes []string, item store.AppendItem) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	for _, name := range mailboxes {
		id, err := b.mailbox(name)
		if err != nil {
			return err
		}
		if _, ok := b.pending[id]; !ok {
			b.order = append(b.order, id)
		}
		b.pending[id] = append(b.pending[id], item)
		b.n++
		b.size += int64(len(item.Body))
	}
	b.queued++
	if b.n >= batchMessages || b.size >= batchBytes {
		return b.flush()
	}
	return nil
}

// flush makes every pending message durable.
func (b *batcher) flush() error {
	for _, id := range b.order {
		items := b.pending[id]
		if _, err := b.st.AppendMany(b.ctx, id, items); err != nil {
			return err
		}
		b.res.Copies += len(items)
		for _, it := range items {
			b.res.Bytes += int64(len(it.Body))
		}
	}
	clear(b.pending)
	b.order = b.order[:0]
	b.n, b.size = 0, 0
	b.res.Messages = b.queued
	b.progress()
	return nil
}
