package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// CreateAccount makes an account with the default mailboxes; the password
// is stored as an argon2id hash.
func (s *Store) CreateAccount(ctx context.Context, address, password string) (*store.Account, error) {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, fmt.Errorf("create account %s: empty password", addr)
	}
	hash, err := store.HashPassword(password, s.opts.CheapPasswordHash)
	if err != nil {
		return nil, err
	}
	acct := store.Account{Address: addr, Created: time.Now().UTC().Truncate(time.Second)}
	err = s.update(ctx, func(tx pgx.Tx) error {
		if err := lockAddresses(ctx, tx); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM accounts WHERE address = $1)", addr).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return store.ErrAccountExists
		}
		if err := addressFreeTx(ctx, tx, addr, true); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "INSERT INTO accounts (address, hash, created) VALUES ($1, $2, $3) RETURNING id",
			addr, hash, acct.Created).Scan(&acct.ID)
		if isUnique(err) {
			return store.ErrAccountExists
		}
		if err != nil {
			return err
		}
		for _, m := range store.DefaultMailboxes {
			if _, err := createMailboxTx(ctx, tx, acct.ID, m.Name, m.SpecialUse); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create account %s: %w", addr, err)
	}
	return &acct, nil
}

// SetPassword replaces an account's password.
func (s *Store) SetPassword(ctx context.Context, address, password string) error {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("set password %s: empty password", addr)
	}
	hash, err := store.HashPassword(password, s.opts.CheapPasswordHash)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "UPDATE accounts SET hash = $2 WHERE address = $1", addr, hash)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNoAccount
	}
	if err != nil {
		return fmt.Errorf("set password %s: %w", addr, err)
	}
	return nil
}

// DeleteAccount removes an account with all its mailboxes and messages.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		var id uint64
		err := tx.QueryRow(ctx, "SELECT id FROM accounts WHERE address = $1 FOR UPDATE", addr).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNoAccount
		}
		if err != nil {
			return err
		}
		// All its mailboxes locked (by ID) before any message goes:
		// the first deletion locks the account's usage row (quota.go).
		rows, _ := tx.Query(ctx, "SELECT id FROM mailboxes WHERE account = $1 ORDER BY id FOR UPDATE", id)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, mid := range ids {
			if err := deleteMailboxTx(ctx, tx, store.MailboxID(mid)); err != nil {
				return err
			}
		}
		// Its model and training states go too; metadata and
		// subscriptions go with the account (ON DELETE CASCADE).
		if _, err := tx.Exec(ctx, "DELETE FROM junk_models WHERE account = $1", id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM junk_msgs WHERE account = $1", id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM accounts WHERE id = $1", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete account %s: %w", addr, err)
	}
	return nil
}

func scanAccount(row pgx.Row) (*store.Account, string, error) {
	var a store.Account
	var hash string
	err := row.Scan(&a.ID, &a.Address, &hash, &a.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", store.ErrNoAccount
	}
	if err != nil {
		return nil, "", err
	}
	a.Created = a.Created.UTC()
	return &a, hash, nil
}

// Accounts lists every account, ordered by address.
func (s *Store) Accounts() ([]store.Account, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT id, address, created FROM accounts ORDER BY address COLLATE "C"`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) {
		var a store.Account
		err := r.Scan(&a.ID, &a.Address, &a.Created)
		a.Created = a.Created.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return out, nil
}

// AccountByAddress looks an account up; ErrNoAccount if there is none.
func (s *Store) AccountByAddress(address string) (*store.Account, error) {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return nil, store.ErrNoAccount
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	a, _, err := scanAccount(s.pool.QueryRow(ctx, "SELECT id, address, hash, created FROM accounts WHERE address = $1", addr))
	return a, err
}

// AccountByID looks an account up by ID.
func (s *Store) AccountByID(id uint64) (*store.Account, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	a, _, err := scanAccount(s.pool.QueryRow(ctx, "SELECT id, address, hash, created FROM accounts WHERE id = $1", int64(id)))
	return a, err
}

// Authenticate checks a password. Unknown accounts and wrong passwords both
// return ErrAuthFailed after the same work. A right password is remembered
// for a few minutes (store.PasswordCache), as the bbolt store does; past
// the bound on the hashes checked at once (Options.HashWorkers,
// HashQueue), store.ErrBusy at once.
func (s *Store) Authenticate(address, password string) (*store.Account, error) {
	addr, nerr := store.NormalizeAddress(address)
	var a *store.Account
	var hash string
	if nerr == nil {
		ctx, cancel := s.readCtx()
		var err error
		a, hash, err = scanAccount(s.pool.QueryRow(ctx, "SELECT id, address, hash, created FROM accounts WHERE address = $1", addr))
		cancel()
		if err != nil && !errors.Is(err, store.ErrNoAccount) {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
	}
	ok, err := s.auth.Check(addr, hash, password)
	if err != nil {
		if s.opts.OnAuthBusy != nil {
			s.opts.OnAuthBusy()
		}
		return nil, err
	}
	if !ok {
		return nil, store.ErrAuthFailed
	}
	return a, nil
}
