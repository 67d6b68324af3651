package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ReadContents is ReadContent for many messages of one mailbox in a single
// read transaction: fn is called with each of uids that still exists, in
// the order given (missing UIDs are skipped). It is what IMAP's SEARCH and
// FETCH of ENVELOPE or BODYSTRUCTURE over a whole mailbox use, where one
// transaction per message would cost more than the work itself.
//
// As with ReadContent, c is valid only during its call: copy what you keep,
// and never write to the network from fn. Keep uids short (a few hundred)
// so the transaction stays short.
func (s *Store) ReadContents(mbx MailboxID, uids []UID, fn func(uid UID, c *Content, structure *Part) error) error {
	return s.view(func(t *bolt.Tx) error {
		infos := t.Bucket(bBlobInfo)
		for _, uid := range uids {
			rec, c, err := contentTx(t, mbx, uid)
			if err == ErrNoMessage {
				continue
			}
			if err != nil {
				return err
			}
			var part Part
			if info := infos.Get(be64(rec.Blob)); info != nil {
				if err := json.Unmarshal(info, &part); err != nil {
					return fmt.Errorf("message %d/%d structure: %w", mbx, uid, err)
				}
			} else {
				part = *ParseStructure(c.Body)
			}
			if err := fn(uid, c, part.shift(int64(len(c.Prefix)), true)); err != nil {
				return err
			}
		}
		return nil
	})
}
