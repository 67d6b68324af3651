package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Account is a user who can log in and owns mailboxes.
type Account struct {
	ID      uint64
	Address string
	Created time.Time
}

type accountRecord struct {
	ID      uint64    `json:"id"`
	Address string    `json:"address"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// DefaultMailboxes are made with every account, with their special-use
// attributes (RFC 6154).
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Sent", `\Sent`},
	{"Drafts", `\Drafts`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}

// NormalizeAddress checks that address is a plain addr-spec
// (local@domain) and returns it lower-cased, which is how accounts are keyed.
func NormalizeAddress(address string) (string, error) {
	a := strings.TrimSpace(address)
	if a == "" || strings.ContainsAny(a, " <>\"\r\n\t,;") {
		return "", fmt.Errorf("%q is not an email address (want local@domain)", address)
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.Count(a, "@") != 1 {
		return "", fmt.Errorf("%q is not an email address (want local@domain)", address)
	}
	// The address alone: no comment ("bob@example.org(x)" parses as
	// bob@example.org), no control character.
	if p, err := mail.ParseAddress(a); err != nil || p.Address != a || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%q is not an email address (want local@domain)", address)
	}
	return strings.ToLower(strings.TrimSuffix(a, ".")), nil
}

// CreateAccount makes an account with the default mailboxes. The password
// is stored as an argon2id hash.
func (s *Store) CreateAccount(ctx context.Context, address, password string) (*Account, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, fmt.Errorf("create account %s: empty password", addr)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return nil, err
	}
	var acct Account
	err = s.update(ctx, func(t *tx) error {
		accts := t.Bucket(bAccounts)
		if accts.Get([]byte(addr)) != nil {
			return ErrAccountExists
		}
		if err := addressFreeTx(t.Tx, addr, true); err != nil {
			return err
		}
		rec := accountRecord{ID: nextID(t.Tx, "acct"), Address: addr, Hash: hash, Created: time.Now().UTC().Truncate(time.Second)}
		b, _ := json.Marshal(rec)
		if err := accts.Put([]byte(addr), b); err != nil {
			return err
		}
		if err := t.Bucket(bAcctIDs).Put(be64(rec.ID), []byte(addr)); err != nil {
			return err
		}
		for _, m := range DefaultMailboxes {
			if _, err := createMailboxTx(t, rec.ID, m.Name, m.SpecialUse); err != nil {
				return err
			}
		}
		acct = Account{ID: rec.ID, Address: addr, Created: rec.Created}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create account %s: %w", addr, err)
	}
	return &acct, nil
}

// SetPassword replaces an account's password.
func (s *Store) SetPassword(ctx context.Context, address, password string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("set password %s: empty password", addr)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(t *tx) error {
		rec, err := getAccountTx(t.Tx, addr)
		if err != nil {
			return err
		}
		rec.Hash = hash
		b, _ := json.Marshal(rec)
		return t.Bucket(bAccounts).Put([]byte(addr), b)
	})
	if err != nil {
		return fmt.Errorf("set password %s: %w", addr, err)
	}
	return nil
}

// DeleteAccount removes an account with all its mailboxes and messages.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(t *tx) error {
		rec, err := getAccountTx(t.Tx, addr)
		if err != nil {
			return err
		}
		prefix := be64(rec.ID)
		var ids []MailboxID
		c := t.Bucket(bMbxNames).Cursor()
		for k, v := c.Seek(prefix); len(k) >= 8 && string(k[:8]) == string(prefix); k, v = c.Next() {
			ids = append(ids, MailboxID(binary.BigEndian.Uint64(v)))
		}
		for _, id := range ids {
			if err := deleteMailboxTx(t, id); err != nil {
				return err
			}
		}
		if err := dropPrefixTx(t, prefix); err != nil { // metadata
			return err
		}
		var subs [][]byte
		sc := t.Bucket(bSubs).Cursor()
		for k, _ := sc.Seek(prefix); len(k) >= 8 && string(k[:8]) == string(prefix); k, _ = sc.Next() {
			subs = append(subs, append([]byte(nil), k...))
		}
		for _, k := range subs {
			if err := t.Bucket(bSubs).Delete(k); err != nil {
				return err
			}
		}
		if err := t.Bucket(bAccounts).Delete([]byte(addr)); err != nil {
			return err
		}
		if err := deleteJunkModelTx(t.Tx, rec.ID); err != nil {
			return err
		}
		if err := t.Bucket(bQuota).Delete(quotaKey(rec.ID)); err != nil {
			return err
		}
		return t.Bucket(bAcctIDs).Delete(prefix)
	})
	if err != nil {
		return fmt.Errorf("delete account %s: %w", addr, err)
	}
	return nil
}

// Accounts lists every account, ordered by address.
func (s *Store) Accounts() ([]Account, error) {
	var out []Account
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bAccounts).ForEach(func(k, v []byte) error {
			var rec accountRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("account %q: %w", k, err)
			}
			out = append(out, Account{ID: rec.ID, Address: rec.Address, Created: rec.Created})
			return nil
		})
	})
	return out, err
}

// AccountByAddress looks an account up; ErrNoAccount if there is none.
func (s *Store) AccountByAddress(address string) (*Account, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, ErrNoAccount
	}
	var acct *Account
	err = s.view(func(t *bolt.Tx) error {
		rec, err := getAccountTx(t, addr)
		if err != nil {
			return err
		}
		acct = &Account{ID: rec.ID, Address: rec.Address, Created: rec.Created}
		return nil
	})
	return acct, err
}

// AccountByID looks an account up by ID.
func (s *Store) AccountByID(id uint64) (*Account, error) {
	var acct *Account
	err := s.view(func(t *bolt.Tx) error {
		addr := t.Bucket(bAcctIDs).Get(be64(id))
		if addr == nil {
			return ErrNoAccount
		}
		rec, err := getAccountTx(t, string(addr))
		if err != nil {
			return err
		}
		acct = &Account{ID: rec.ID, Address: rec.Address, Created: rec.Created}
		return nil
	})
	return acct, err
}

// Authenticate checks a password. Unknown accounts and wrong passwords both
// return ErrAuthFailed after the same work, so timing tells them apart no
// better than the reply does. A password found right in the last few
// minutes is not hashed again; every other check (unknown users included)
// takes a turn of the store's bounded hashing pool, and ErrBusy is returned
// when too many wait for one (Options.HashWorkers, HashQueue).
func (s *Store) Authenticate(address, password string) (*Account, error) {
	addr, nerr := NormalizeAddress(address)
	var rec accountRecord
	found := false
	if nerr == nil {
		s.view(func(t *bolt.Tx) error {
			r, err := getAccountTx(t, addr)
			if err == nil {
				rec, found = r, true
			}
			return nil
		})
	}
	if !found {
		if err := s.hash.do(func() { checkPassword(dummyHash, password) }); err != nil {
			return nil, s.busy(err)
		}
		return nil, ErrAuthFailed
	}
	id := s.auth.id(addr, password, rec.Hash)
	if !s.auth.ok(id) {
		var right bool
		if err := s.hash.do(func() { right = checkPassword(rec.Hash, password) }); err != nil {
			return nil, s.busy(err)
		}
		if !right {
			return nil, ErrAuthFailed
		}
		s.auth.remember(id)
	}
	return &Account{ID: rec.ID, Address: rec.Address, Created: rec.Created}, nil
}

func getAccountTx(t *bolt.Tx, addr string) (accountRecord, error) {
	var rec accountRecord
	v := t.Bucket(bAccounts).Get([]byte(addr))
	if v == nil {
		return rec, ErrNoAccount
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("account %s: %w", addr, err)
	}
	return rec, nil
}
