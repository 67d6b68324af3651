package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Quotas (IMAP QUOTA, RFC 9208; SMTP's 552 5.2.2). Each account has one
// record in bQuota: its usage (the sum of the sizes and the number of its
// messages, over all its mailboxes) and its limits (0: none). Usage is
// changed by every write that adds or removes a message, in the same
// transaction (addUsageTx, called where a mailbox's own counts change), so
// it is exact after a crash; Open computes it once for a store made
// before it was kept.

var bQuota = []byte("quota") // account ID -> usage and limits (quotaRecord)

// ErrOverQuota is returned by a write that would take an account past one
// of its limits (IMAP's NO [OVERQUOTA]).
var ErrOverQuota = errors.New("over quota")

// Quota is an account's usage and limits. A limit of 0 means none.
type Quota struct {
	Storage      int64 // bytes used: the sum of the sizes of the account's messages
	Messages     int64 // messages stored, in all mailboxes
	StorageLimit int64 // bytes; 0: no limit
	MessageLimit int64 // messages; 0: no limit
}

// Fits reports whether n more messages of size more bytes stay within the
// limits.
func (q Quota) Fits(more, n int64) bool {
	if q.StorageLimit > 0 && more > 0 && q.Storage+more > q.StorageLimit {
		return false
	}
	if q.MessageLimit > 0 && n > 0 && q.Messages+n > q.MessageLimit {
		return false
	}
	return true
}

// Full reports whether the account is at or past a limit already: not
// even the smallest message fits.
func (q Quota) Full() bool { return !q.Fits(1, 1) }

func quotaKey(acct uint64) []byte { return be64(acct) }

func getQuotaTx(t *bolt.Tx, acct uint64) Quota {
	v := t.Bucket(bQuota).Get(quotaKey(acct))
	var q Quota
	if len(v) == 32 {
		q.Storage = int64(binary.BigEndian.Uint64(v))
		q.Messages = int64(binary.BigEndian.Uint64(v[8:]))
		q.StorageLimit = int64(binary.BigEndian.Uint64(v[16:]))
		q.MessageLimit = int64(binary.BigEndian.Uint64(v[24:]))
	}
	return q
}

func putQuotaTx(t *bolt.Tx, acct uint64, q Quota) error {
	v := make([]byte, 32)
	binary.BigEndian.PutUint64(v, uint64(q.Storage))
	binary.BigEndian.PutUint64(v[8:], uint64(q.Messages))
	binary.BigEndian.PutUint64(v[16:], uint64(q.StorageLimit))
	binary.BigEndian.PutUint64(v[24:], uint64(q.MessageLimit))
	return t.Bucket(bQuota).Put(quotaKey(acct), v)
}

// addUsageTx changes an account's usage by size bytes and n messages.
func addUsageTx(t *bolt.Tx, acct uint64, size, n int64) error {
	if size == 0 && n == 0 {
		return nil
	}
	q := getQuotaTx(t, acct)
	q.Storage += size
	q.Messages += n
	return putQuotaTx(t, acct, q)
}

// checkQuotaTx fails with ErrOverQuota if n messages of size bytes do not
// fit in the account.
func checkQuotaTx(t *bolt.Tx, acct uint64, size, n int64) error {
	if q := getQuotaTx(t, acct); !q.Fits(size, n) {
		return fmt.Errorf("account %d: %w", acct, ErrOverQuota)
	}
	return nil
}

// initQuotaTx computes every account's usage from its mailboxes' counts,
// once: for a store made before usage was kept.
func initQuotaTx(t *bolt.Tx) error {
	meta := t.Bucket(bMeta)
	if meta.Get([]byte("quota")) != nil {
		return nil
	}
	usage, err := sumUsageTx(t)
	if err != nil {
		return err
	}
	for acct, u := range usage {
		q := getQuotaTx(t, acct)
		q.Storage, q.Messages = u[0], u[1]
		if err := putQuotaTx(t, acct, q); err != nil {
			return err
		}
	}
	return meta.Put([]byte("quota"), be64(1))
}

// sumUsageTx adds up, per account, the sizes and number of the messages
// as the message records say.
func sumUsageTx(t *bolt.Tx) (map[uint64][2]int64, error) {
	usage := map[uint64][2]int64{}
	err := t.Bucket(bMailboxes).ForEach(func(k, _ []byte) error {
		m, err := getMailboxTx(t, MailboxID(binary.BigEndian.Uint64(k)))
		if err != nil {
			return err
		}
		u := usage[m.Account]
		b := t.Bucket(bMsgs).Bucket(be64(uint64(m.ID)))
		if b != nil {
			err := b.ForEach(func(_, v []byte) error {
				rec, err := decodeRecord(v, true)
				if err != nil {
					return err
				}
				u[0] += rec.Size
				u[1]++
				return nil
			})
			if err != nil {
				return err
			}
		}
		usage[m.Account] = u
		return nil
	})
	return usage, err
}

// Quota returns an account's usage and limits.
func (s *Store) Quota(acct uint64) (Quota, error) {
	var q Quota
	err := s.view(func(t *bolt.Tx) error {
		if t.Bucket(bAcctIDs).Get(be64(acct)) == nil {
			return ErrNoAccount
		}
		q = getQuotaTx(t, acct)
		return nil
	})
	return q, err
}

// SetQuota sets an account's limits (0: none); usage is left as it is.
// An account already past a new limit keeps its mail but gets no more.
func (s *Store) SetQuota(ctx context.Context, address string, storageLimit, messageLimit int64) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	if storageLimit < 0 || messageLimit < 0 {
		return fmt.Errorf("set quota %s: negative limit", addr)
	}
	err = s.update(ctx, func(t *tx) error {
		rec, err := getAccountTx(t.Tx, addr)
		if err != nil {
			return err
		}
		q := getQuotaTx(t.Tx, rec.ID)
		q.StorageLimit, q.MessageLimit = storageLimit, messageLimit
		return putQuotaTx(t.Tx, rec.ID, q)
	})
	if err != nil {
		return fmt.Errorf("set quota %s: %w", addr, err)
	}
	return nil
}

// AppendWithinQuota is AppendMany refused with ErrOverQuota, as a whole,
// when the messages do not all fit in the account's limits (IMAP APPEND
// and MULTIAPPEND, RFC 9208 NO [OVERQUOTA]). The check and the write are
// one transaction: concurrent appends cannot together pass a limit.
func (s *Store) AppendWithinQuota(ctx context.Context, mbx MailboxID, items []AppendItem) ([]Delivered, error) {
	return s.appendMany(ctx, mbx, items, true)
}

// VerifyUsage recomputes every account's usage from its messages and
// returns an error naming the first account whose kept usage differs.
// Tests and `petrel store check` use it.
func (s *Store) VerifyUsage() error {
	return s.view(func(t *bolt.Tx) error {
		usage, err := sumUsageTx(t)
		if err != nil {
			return err
		}
		return t.Bucket(bAcctIDs).ForEach(func(k, addr []byte) error {
			acct := binary.BigEndian.Uint64(k)
			q, u := getQuotaTx(t, acct), usage[acct]
			if q.Storage != u[0] || q.Messages != u[1] {
				return fmt.Errorf("account %s: usage kept as %d bytes in %d messages, but its messages add up to %d bytes in %d", addr, q.Storage, q.Messages, u[0], u[1])
			}
			return nil
		})
	})
}
