package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// Mailing lists (tables lists and list_members), with the bbolt store's
// rules (store's list.go): a list's address and its bounce address are no
// account's, alias's or other list's; members are added, removed,
// disabled after bouncing on too many days (store.BounceDay).

const listCols = "address, post, moderators, reply_to, archive, created"

func scanList(row pgx.Row) (store.List, error) {
	var l store.List
	err := row.Scan(&l.Address, &l.Post, &l.Moderators, &l.ReplyTo, &l.Archive, &l.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, store.ErrNoList
	}
	if len(l.Moderators) == 0 {
		l.Moderators = nil
	}
	l.Created = l.Created.UTC()
	return l, err
}

const memberCols = "address, added, disabled, bounce_days"

func scanMember(row pgx.Row) (store.Member, error) {
	var m store.Member
	err := row.Scan(&m.Address, &m.Added, &m.Disabled, &m.BounceDays)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, store.ErrNoMember
	}
	if len(m.BounceDays) == 0 {
		m.BounceDays = nil
	}
	m.Added = m.Added.UTC()
	return m, err
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// lockAddresses serialises the writes that claim addresses (accounts,
// aliases, lists), so that two nodes never give one address twice.
func lockAddresses(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "LOCK TABLE aliases IN SHARE ROW EXCLUSIVE MODE")
	return err
}

// addressFreeTx refuses an address that an account, a list or a list's
// bounce address has, or, with alias, an alias.
func addressFreeTx(ctx context.Context, tx pgx.Tx, addr string, alias bool) error {
	var account, list, bounce, isAlias bool
	blist, isBounce := store.ListOfBounceAddress(addr)
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE address = $1),
		EXISTS (SELECT 1 FROM lists WHERE address = $1),
		$3 AND EXISTS (SELECT 1 FROM lists WHERE address = $2),
		EXISTS (SELECT 1 FROM aliases WHERE address = $1)`, addr, blist, isBounce).Scan(&account, &list, &bounce, &isAlias)
	switch {
	case err != nil:
		return err
	case account:
		return fmt.Errorf("%s is an account: %w", addr, store.ErrAddressTaken)
	case list:
		return fmt.Errorf("%s is a mailing list: %w", addr, store.ErrAddressTaken)
	case bounce:
		return fmt.Errorf("%s is the bounce address of the list %s: %w", addr, blist, store.ErrAddressTaken)
	case alias && isAlias:
		return fmt.Errorf("%s is an alias: %w", addr, store.ErrAddressTaken)
	}
	return nil
}

// CreateList makes a mailing list with no members. Its address and its
// bounce address must not be an account's, an alias's or another list's.
func (s *Store) CreateList(ctx context.Context, l store.List) (*store.List, error) {
	if err := store.NormalizeList(&l); err != nil {
		return nil, err
	}
	l.Created = store.Now().UTC().Truncate(time.Second)
	err := s.update(ctx, func(tx pgx.Tx) error {
		if err := lockAddresses(ctx, tx); err != nil {
			return err
		}
		if _, err := scanList(tx.QueryRow(ctx, "SELECT "+listCols+" FROM lists WHERE address = $1", l.Address)); err == nil {
			return store.ErrListExists
		}
		for _, a := range []string{l.Address, store.BounceAddress(l.Address)} {
			if err := addressFreeTx(ctx, tx, a, true); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO lists ("+listCols+") VALUES ($1, $2, $3, $4, $5, $6)",
			l.Address, l.Post, nonNilStrings(l.Moderators), l.ReplyTo, l.Archive, l.Created)
		if isUnique(err) {
			return store.ErrListExists
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create list %s: %w", l.Address, err)
	}
	return &l, nil
}

// UpdateList replaces the settings of an existing list (not its members).
func (s *Store) UpdateList(ctx context.Context, l store.List) error {
	if err := store.NormalizeList(&l); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "UPDATE lists SET post = $2, moderators = $3, reply_to = $4, archive = $5 WHERE address = $1",
		l.Address, l.Post, nonNilStrings(l.Moderators), l.ReplyTo, l.Archive)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNoList
	}
	if err != nil {
		return fmt.Errorf("update list %s: %w", l.Address, err)
	}
	return nil
}

// DeleteList removes a list and its members.
func (s *Store) DeleteList(ctx context.Context, address string) error {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return err
	}
	// Its members go with it (ON DELETE CASCADE).
	tag, err := s.pool.Exec(ctx, "DELETE FROM lists WHERE address = $1", addr)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNoList
	}
	if err != nil {
		return fmt.Errorf("delete list %s: %w", addr, err)
	}
	return nil
}

// MailingList returns a list's settings; ErrNoList if there is none.
func (s *Store) MailingList(address string) (*store.List, error) {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return nil, store.ErrNoList
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	l, err := scanList(s.pool.QueryRow(ctx, "SELECT "+listCols+" FROM lists WHERE address = $1", addr))
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// MailingLists returns every list, ordered by address.
func (s *Store) MailingLists() ([]store.List, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, "SELECT "+listCols+` FROM lists ORDER BY address COLLATE "C"`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.List, error) { return scanList(r) })
	if err != nil {
		return nil, fmt.Errorf("mailing lists: %w", err)
	}
	return out, nil
}

// listExistsTx locks a list's row (FOR SHARE: its members may change, it
// may not go) or says ErrNoList.
func listExistsTx(ctx context.Context, tx pgx.Tx, addr string) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM lists WHERE address = $1 FOR SHARE", addr).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNoList
	}
	return err
}

// AddMembers subscribes addresses to a list, in one transaction. An
// address already a member stays as it is, unless it was disabled: then
// it is enabled again, with no bounce days. It returns the addresses
// added or enabled.
func (s *Store) AddMembers(ctx context.Context, list string, addrs []string) ([]string, error) {
	laddr, norm, err := store.NormalizeMembers(list, addrs)
	if err != nil {
		return nil, err
	}
	var added []string
	err = s.update(ctx, func(tx pgx.Tx) error {
		added = added[:0]
		if err := listExistsTx(ctx, tx, laddr); err != nil {
			return err
		}
		now := store.Now().UTC().Truncate(time.Second)
		for _, a := range norm {
			tag, err := tx.Exec(ctx, `INSERT INTO list_members (list, address, added) VALUES ($1, $2, $3)
				ON CONFLICT (list, address) DO UPDATE SET disabled = false, bounce_days = '{}' WHERE list_members.disabled`,
				laddr, a, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				added = append(added, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: add members: %w", laddr, err)
	}
	return added, nil
}

// RemoveMembers unsubscribes addresses from a list and returns those that
// were members.
func (s *Store) RemoveMembers(ctx context.Context, list string, addrs []string) ([]string, error) {
	laddr, norm, err := store.NormalizeMembers(list, addrs)
	if err != nil {
		return nil, err
	}
	var removed []string
	err = s.update(ctx, func(tx pgx.Tx) error {
		removed = removed[:0]
		if err := listExistsTx(ctx, tx, laddr); err != nil {
			return err
		}
		for _, a := range norm {
			tag, err := tx.Exec(ctx, "DELETE FROM list_members WHERE list = $1 AND address = $2", laddr, a)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				removed = append(removed, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: remove members: %w", laddr, err)
	}
	return removed, nil
}

// Members returns the members of a list, ordered by address.
func (s *Store) Members(list string) ([]store.Member, error) {
	laddr, err := store.NormalizeAddress(list)
	if err != nil {
		return nil, store.ErrNoList
	}
	var out []store.Member
	err = s.view(func(ctx context.Context, tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM lists WHERE address = $1", laddr).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNoList
			}
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT "+memberCols+` FROM list_members WHERE list = $1 ORDER BY address COLLATE "C"`, laddr)
		var err error
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Member, error) { return scanMember(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: members: %w", laddr, err)
	}
	return out, nil
}

// ListMember returns one member of a list; ErrNoMember if addr is not one.
func (s *Store) ListMember(list, addr string) (*store.Member, error) {
	laddr, norm, err := store.NormalizeMembers(list, []string{addr})
	if err != nil {
		return nil, err
	}
	var m store.Member
	err = s.view(func(ctx context.Context, tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM lists WHERE address = $1", laddr).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNoList
			}
			return err
		}
		var err error
		m, err = scanMember(tx.QueryRow(ctx, "SELECT "+memberCols+" FROM list_members WHERE list = $1 AND address = $2", laddr, norm[0]))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// RecordBounce notes that the list's mail to member bounced at when: once
// a day counts, and store.BounceStale without a bounce starts the count
// again. On the days-th day the member is disabled, and RecordBounce
// returns true (once). A member no longer on the list is ErrNoMember.
func (s *Store) RecordBounce(ctx context.Context, list, member string, when time.Time, days int) (disabled bool, err error) {
	laddr, norm, err := store.NormalizeMembers(list, []string{member})
	if err != nil {
		return false, err
	}
	err = s.update(ctx, func(tx pgx.Tx) error {
		disabled = false
		m, err := scanMember(tx.QueryRow(ctx, "SELECT "+memberCols+" FROM list_members WHERE list = $1 AND address = $2 FOR UPDATE", laddr, norm[0]))
		if err != nil {
			return err
		}
		bdays, changed, off := store.BounceDay(m, when, days)
		if !changed {
			return nil
		}
		disabled = off
		_, err = tx.Exec(ctx, "UPDATE list_members SET bounce_days = $3, disabled = disabled OR $4 WHERE list = $1 AND address = $2",
			laddr, norm[0], bdays, off)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("list %s: bounce of %s: %w", laddr, norm[0], err)
	}
	return disabled, nil
}
