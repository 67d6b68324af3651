package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// The reads below are the bbolt store's for IMAP and POP3, which hand over
// a whole message (store.Content) with its structure: here its bytes are
// read whole from PostgreSQL into memory. ReadRange is the way to read
// part of a large message.

// content is one message's bytes and stored structure.
type content struct {
	uid  store.UID
	c    store.Content
	info []byte
}

// contents reads the messages of uids that exist, in the order given.
func (s *Store) contents(mbx store.MailboxID, uids []store.UID) ([]content, error) {
	var found []content
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		if err := exists(ctx, tx, mbx); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT m.uid, m.prefix, b.body, b.info FROM messages m JOIN blobs b ON b.id = m.blob
			WHERE m.mailbox = $1 AND m.uid = ANY($2)`, int64(mbx), fromUIDs(uids))
		var err error
		found, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (content, error) {
			var c content
			var uid int64
			err := r.Scan(&uid, &c.c.Prefix, &c.c.Body, &c.info)
			c.uid = store.UID(uid)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	byUID := make(map[store.UID]int, len(found))
	for i, c := range found {
		byUID[c.uid] = i
	}
	out := make([]content, 0, len(found))
	for _, u := range uids {
		if i, ok := byUID[u]; ok {
			out = append(out, found[i])
		}
	}
	return out, nil
}

func (s *Store) one(mbx store.MailboxID, uid store.UID) (content, error) {
	cs, err := s.contents(mbx, []store.UID{uid})
	if err != nil {
		return content{}, err
	}
	if len(cs) == 0 {
		return content{}, store.ErrNoMessage
	}
	return cs[0], nil
}

func (c *content) structure() (*store.Part, error) {
	p, err := store.DecodeStructure(c.info, int64(len(c.c.Prefix)))
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", c.uid, err)
	}
	return p, nil
}

// ReadContent calls fn with a message's content and its MIME structure
// (offsets include the prefix).
func (s *Store) ReadContent(mbx store.MailboxID, uid store.UID, fn func(c *store.Content, structure *store.Part) error) error {
	c, err := s.one(mbx, uid)
	if err != nil {
		return err
	}
	p, err := c.structure()
	if err != nil {
		return err
	}
	return fn(&c.c, p)
}

// ReadRaw is ReadContent without the structure.
func (s *Store) ReadRaw(mbx store.MailboxID, uid store.UID, fn func(c *store.Content) error) error {
	c, err := s.one(mbx, uid)
	if err != nil {
		return err
	}
	return fn(&c.c)
}

// Structure returns a message's MIME structure and envelope.
func (s *Store) Structure(mbx store.MailboxID, uid store.UID) (*store.Part, error) {
	c, err := s.one(mbx, uid)
	if err != nil {
		return nil, err
	}
	return c.structure()
}

// ReadContents is ReadContent for many messages of one mailbox, read in one
// query: fn is called for each of uids that exists, in the order given.
func (s *Store) ReadContents(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, structure *store.Part) error) error {
	cs, err := s.contents(mbx, uids)
	if err != nil {
		return err
	}
	for i := range cs {
		p, err := cs[i].structure()
		if err != nil {
			return err
		}
		if err := fn(cs[i].uid, &cs[i].c, p); err != nil {
			return err
		}
	}
	return nil
}

// ReadEnvelopes calls fn with the envelope of each of uids that still
// exists, in order (store.Store's contract): ReadContents' trees' own.
func (s *Store) ReadEnvelopes(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, env *store.Envelope) error) error {
	return s.ReadContents(mbx, uids, func(uid store.UID, _ *store.Content, p *store.Part) error {
		return fn(uid, p.Envelope)
	})
}

// ReadHeaders is ReadContents for readers of the top header only: fn gets
// the offset where the body starts (prefix included).
func (s *Store) ReadHeaders(mbx store.MailboxID, uids []store.UID, fn func(uid store.UID, c *store.Content, bodyStart int64) error) error {
	cs, err := s.contents(mbx, uids)
	if err != nil {
		return err
	}
	for i := range cs {
		c := &cs[i]
		start, ok := store.StructureBodyStart(c.info)
		if !ok {
			p, err := c.structure()
			if err != nil {
				return err
			}
			start = p.BodyStart - int64(len(c.c.Prefix))
		}
		if err := fn(c.uid, &c.c, start+int64(len(c.c.Prefix))); err != nil {
			return err
		}
	}
	return nil
}
