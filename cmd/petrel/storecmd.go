package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"petrel/config"
	"petrel/store"
	"petrel/store/pgstore"
)

// storeCmd runs `petrel store migrate` (the PostgreSQL schema brought to
// this version by hand; every node also does it when it starts) and
// `petrel store copy --to DSN`.
func storeCmd(ctx context.Context, g globalFlags, args []string, stdout, stderr io.Writer) error {
	const use = "usage: petrel store migrate | petrel store copy --to postgres://…"
	if len(args) != 1 {
		return usagef(use)
	}
	cfg, err := config.Load(g.config, os.Environ(), g.dev)
	if err != nil {
		return err
	}
	switch args[0] {
	case "migrate":
	case "copy":
		// Progress as import and export show it: a bar on a terminal's
		// stderr, else a line each 1000 messages.
		bar := newProgressBar(stderr, "load")
		defer bar.end()
		return storeCopy(ctx, cfg, g.to, progressOut{w: stdout, bar: bar})
	default:
		return usagef(use)
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

// storeCopy copies data_dir's bbolt store into the PostgreSQL database at
// to, with progress, resumably (see pgstore.CopyFrom). The server must be
// stopped: the bbolt file is opened directly.
func storeCopy(ctx context.Context, cfg *config.Config, to string, stdout io.Writer) error {
	if to == "" {
		return usagef("store copy needs --to postgres://user:password@host/db (the database to copy into)")
	}
	if !strings.HasPrefix(to, "postgres://") && !strings.HasPrefix(to, "postgresql://") {
		return storeCopyBack(ctx, cfg, to, stdout)
	}
	path := filepath.Join(cfg.DataDir, "mail.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store copy: no bbolt store at %s (set data_dir): %w", path, err)
	}
	quiet := slog.New(slog.DiscardHandler)
	src, err := store.Open(path, store.Options{Logger: quiet, Timeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("store copy: %w: stop the petrel server using %s first", err, cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	defer src.Close()
	dst, err := pgstore.Open(ctx, to, pgstore.Options{Logger: quiet})
	if err != nil {
		return fmt.Errorf("store copy --to: %w", err)
	}
	defer dst.Close()
	st, err := dst.CopyFrom(ctx, src, progressTo(stdout))
	return copyReport(stdout, st, err)
}

func copyReport(stdout io.Writer, st pgstore.CopyStats, err error) error {
	if err != nil {
		return fmt.Errorf("store copy: %w (run it again to go on where it stopped)", err)
	}
	fmt.Fprintf(stdout, "store copied: %d accounts, %d mailboxes, %d aliases, %d messages (%d were there already), %d mailing lists, %d junk models\n",
		st.Accounts, st.Mailboxes, st.Aliases, st.Messages, st.Skipped, st.Lists, st.JunkModels)
	return nil
}

// storeCopyBack copies the PostgreSQL store of store.dsn into the bbolt
// file at path (new, or an interrupted copy to go on with).
func storeCopyBack(ctx context.Context, cfg *config.Config, path string, stdout io.Writer) error {
	if cfg.Store.Backend != "postgres" {
		return fmt.Errorf("store copy --to %s: copying into a bbolt file reads the PostgreSQL store: set store.backend = \"postgres\" and store.dsn (or PETREL_STORE_DSN); --to postgres://… copies data_dir's bbolt store the other way", path)
	}
	quiet := slog.New(slog.DiscardHandler)
	src, err := pgstore.Open(ctx, cfg.Store.DSN, pgstore.Options{Logger: quiet})
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	defer src.Close()
	dst, err := store.Open(path, store.Options{Logger: quiet, Timeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("store copy --to %s: %w: stop the petrel server using it first", path, err)
	}
	if err != nil {
		return fmt.Errorf("store copy --to %s: %w", path, err)
	}
	defer dst.Close()
	st, err := src.CopyTo(ctx, dst, progressTo(stdout))
	return copyReport(stdout, st, err)
}
