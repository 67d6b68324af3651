package search

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// Reader is what Run reads of the store.
type Reader interface {
	Messages(mbx store.MailboxID, uids []store.UID) ([]store.Message, error)
	ReadHeaders(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, bodyStart int64) error) error
	ReadContents(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, structure *store.Part) error) error
}

// Batch sizes: metadata is read Batch messages a transaction, contents
// Group messages a transaction, so that no read transaction stays open
// long.
const (
	Batch = 2048
	Group = 256
)

// Options tune Run.
type Options struct {
	// Cached, when set, serves a search that needs only header fields
	// (never the body) from a cache: it calls fn, in the order of uids,
	// with the FieldValues of each message that still exists (a map fn
	// does not keep, so one may serve every call). Nil: the headers are
	// read.
	Cached func(uids []store.UID, fn func(uid store.UID, fields map[string]string)) error
	// SeqOf, when set, gives a message's sequence number (its Seq) when
	// uids is not the whole mailbox (IMAP narrowing a MODSEQ search to
	// what changed); nil: its place in uids.
	SeqOf func(uid store.UID) uint32
}

// Run evaluates c on the messages uids of mailbox mbx, in the order given
// (missing ones skipped), and calls found with each match; found returns
// false to stop the search. A message's Seq is its place in uids, from 1.
// The Msg passed to found is valid only during the call.
func Run(ctx context.Context, r Reader, mbx store.MailboxID, uids []store.UID, c *imap.SearchCriteria, o Options, found func(m *Msg) bool) error {
	content := NeedsContent(c)
	headerOnly := content && !NeedsStructure(c)
	stop := false
	sc := &scratch{}
	check := func(m *Msg) {
		m.scratch = sc
		if !stop && Match(c, m) && !found(m) {
			stop = true
		}
	}
	for start := 0; start < len(uids) && !stop; start += Batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := uids[start:min(start+Batch, len(uids))]
		metas, err := r.Messages(mbx, batch)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		pos := make(map[store.UID]int, len(batch)) // index in batch: seq = start+index+1
		for i, uid := range batch {
			pos[uid] = i
		}
		seqOf := func(uid store.UID) uint32 {
			if o.SeqOf != nil {
				return o.SeqOf(uid)
			}
			return uint32(start + pos[uid] + 1)
		}
		if !content {
			for k := range metas {
				check(&Msg{Seq: seqOf(metas[k].UID), Meta: &metas[k]})
			}
			continue
		}
		byUID := make(map[store.UID]*store.Message, len(metas))
		for k := range metas {
			byUID[metas[k].UID] = &metas[k]
		}
		// at is the message to match, nil when it is gone from the batch.
		at := func(uid store.UID) *Msg {
			meta := byUID[uid]
			if meta == nil {
				return nil
			}
			return &Msg{Seq: seqOf(uid), Meta: meta}
		}
		for g := 0; g < len(batch) && !stop; g += Group {
			if err := ctx.Err(); err != nil {
				return err
			}
			group := batch[g:min(g+Group, len(batch))]
			var err error
			switch {
			case headerOnly && o.Cached != nil:
				err = o.Cached(group, func(uid store.UID, cached map[string]string) {
					if m := at(uid); m != nil {
						m.Cached = cached
						check(m)
					}
				})
			case headerOnly:
				err = r.ReadHeaders(mbx, group, func(uid store.UID, c *store.Content, bodyStart int64) error {
					if m := at(uid); m != nil {
						m.C, m.HeaderEnd = c, bodyStart
						check(m)
					}
					return nil
				})
			default:
				err = r.ReadContents(mbx, group, func(uid store.UID, c *store.Content, root *store.Part) error {
					if m := at(uid); m != nil {
						m.C, m.Root, m.HeaderEnd = c, root, root.BodyStart
						check(m)
					}
					return nil
				})
			}
			if err != nil {
				return fmt.Errorf("search: %w", err)
			}
		}
	}
	return nil
}
