package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// source reads addresses in one transaction for the store package's
// resolver.
type source struct {
	ctx context.Context
	tx  pgx.Tx
	err error // the first error met; a lookup that failed found nothing
}

func (s *source) LookupAccount(addr string) (store.Account, bool) {
	a, _, err := scanAccount(s.tx.QueryRow(s.ctx, "SELECT id, address, hash, created FROM accounts WHERE address = $1", addr))
	if err != nil {
		if !errors.Is(err, store.ErrNoAccount) && s.err == nil {
			s.err = err
		}
		return store.Account{}, false
	}
	return *a, true
}

func (s *source) LookupList(addr string) bool {
	var ok bool
	if err := s.tx.QueryRow(s.ctx, "SELECT EXISTS (SELECT 1 FROM lists WHERE address = $1)", addr).Scan(&ok); err != nil {
		if s.err == nil {
			s.err = err
		}
		return false
	}
	return ok
}

func (s *source) LookupAlias(addr string) (store.Alias, bool) {
	a := store.Alias{}
	err := s.tx.QueryRow(s.ctx, "SELECT address, targets, created FROM aliases WHERE address = $1", addr).Scan(&a.Address, &a.Targets, &a.Created)
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) && s.err == nil {
			s.err = err
		}
		return a, false
	}
	a.Created = a.Created.UTC()
	return a, true
}

// SetAlias makes address (or a catch-all "@domain") an alias for targets,
// with the checks of store.Store.SetAlias (store.CheckAlias).
func (s *Store) SetAlias(ctx context.Context, address string, targets []string, o store.ResolveOptions) (*store.Resolution, error) {
	addr, err := store.NormalizeAlias(address)
	if err != nil {
		return nil, err
	}
	tgts, err := store.AliasTargets(addr, targets)
	if err != nil {
		return nil, err
	}
	var res *store.Resolution
	err = s.update(ctx, func(tx pgx.Tx) error {
		// One alias change at a time: the loop check reads them all.
		if _, err := tx.Exec(ctx, "LOCK TABLE aliases IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		src := &source{ctx: ctx, tx: tx}
		if err := addressFreeTx(ctx, tx, addr, false); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO aliases (address, targets, created) VALUES ($1, $2, $3)
			ON CONFLICT (address) DO UPDATE SET targets = excluded.targets`, addr, tgts, time.Now().UTC().Truncate(time.Second))
		if err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT address, targets, created FROM aliases WHERE address <> $1", addr)
		others, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Alias])
		if err != nil {
			return err
		}
		res, err = store.CheckAlias(addr, tgts, o, src, others)
		if src.err != nil {
			return src.err
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("alias %s: %w", addr, err)
	}
	return res, nil
}

// DeleteAlias removes an alias (or a catch-all).
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	addr, err := store.NormalizeAlias(address)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM aliases WHERE address = $1", addr)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNoAlias
	}
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", addr, err)
	}
	return nil
}

// Aliases lists every alias and catch-all, ordered by address.
func (s *Store) Aliases() ([]store.Alias, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT address, targets, created FROM aliases ORDER BY address COLLATE "C"`)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Alias])
	if err != nil {
		return nil, fmt.Errorf("aliases: %w", err)
	}
	for i := range out {
		out[i].Created = out[i].Created.UTC()
	}
	return out, nil
}

// ResolveAddress says where mail for a local address goes, by the store
// package's resolver (store.Resolve).
func (s *Store) ResolveAddress(address string, o store.ResolveOptions) (*store.Resolution, error) {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return nil, store.ErrNoAccount
	}
	var res *store.Resolution
	err = s.view(func(ctx context.Context, tx pgx.Tx) error {
		src := &source{ctx: ctx, tx: tx}
		var err error
		res, err = store.Resolve(addr, o, src)
		if src.err != nil {
			return src.err
		}
		return err
	})
	return res, err
}
