package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"petrel/config"
	"petrel/store/pgstore"
)

// storeCmd runs `petrel store migrate`: the PostgreSQL schema brought to
// this version by hand (every node also does it when it starts).
func storeCmd(ctx context.Context, g globalFlags, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "migrate" {
		return usagef("usage: petrel store migrate")
	}
	cfg, err := config.Load(g.config, os.Environ(), g.dev)
	if err != nil {
		return err
	}
	if cfg.Store.Backend != "postgres" {
		return fmt.Errorf("store migrate: store.backend = %q has no schema to migrate (it applies to \"postgres\", with store.dsn or PETREL_STORE_DSN)", cfg.Store.Backend)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, cfg.Store.DSN)
	if err != nil {
		return fmt.Errorf("store migrate: store.dsn: %w", err)
	}
	defer pool.Close()
	from, to, err := pgstore.Migrate(ctx, pool)
	if err != nil {
		if errors.Is(err, pgstore.ErrSchemaNewer) {
			return fmt.Errorf("store migrate: %w", err)
		}
		return fmt.Errorf("store migrate: %w (check store.dsn and that the database is up)", err)
	}
	if from == to {
		fmt.Fprintf(stdout, "store schema is at version %d, the current one: nothing to do\n", to)
		return nil
	}
	fmt.Fprintf(stdout, "store schema migrated from version %d to %d\n", from, to)
	return nil
}
