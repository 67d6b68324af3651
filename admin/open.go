package admin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"petrel/config"
	"petrel/junk"
	"petrel/queue"
	"petrel/queue/pgqueue"
	"petrel/store"
	"petrel/store/pgstore"
)

// StoreOptions are what the opener of the store adds to the config: its
// logger and the metrics hooks of a server.
type StoreOptions struct {
	Logger      *slog.Logger
	Timeout     time.Duration // to wait for bbolt's file lock (0: forever)
	OnCommit    func(d time.Duration, writes int)
	OnAuthBusy  func()
	OnJunkApply func(n int)
}

// OpenStore opens the store cfg names, for serve or for a command run
// with no server: the bbolt file in data_dir (bolt is then the same
// store: backup archives it), or the PostgreSQL database of store.dsn
// (bolt nil). A bbolt file another process holds is store.ErrLocked.
func OpenStore(ctx context.Context, cfg *config.Config, o StoreOptions) (st Store, bolt *store.Store, err error) {
	if cfg.Store.Backend == "postgres" {
		pg, err := pgstore.Open(ctx, cfg.Store.DSN, pgstore.Options{Logger: o.Logger, OnAuthBusy: o.OnAuthBusy,
			JunkTokens: junk.Tokens, JunkShared: cfg.Junk.SharedModel, JunkMaxTokens: cfg.Junk.MaxTokens})
		if err != nil {
			return nil, nil, fmt.Errorf("store.dsn: %w (check that PostgreSQL runs and store.dsn or PETREL_STORE_DSN names a database this user may change)", err)
		}
		return pg, nil, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	bolt, err = store.Open(filepath.Join(cfg.DataDir, "mail.db"), store.Options{Logger: o.Logger, Timeout: o.Timeout,
		OnCommit: o.OnCommit, OnAuthBusy: o.OnAuthBusy, OnJunkApply: o.OnJunkApply,
		JunkTokens: junk.Tokens, JunkShared: cfg.Junk.SharedModel, JunkMaxTokens: cfg.Junk.MaxTokens})
	if err != nil {
		return nil, nil, err
	}
	return bolt, bolt, nil
}

// SharedQueue puts the queue where the store is: in PostgreSQL, shared by
// the nodes (queue/pgqueue), or, on bbolt, in data_dir/queue.db (no
// change to the options).
func SharedQueue(st any, cfg *config.Config) func(*queue.Options) {
	return func(o *queue.Options) {
		if pg, ok := st.(*pgstore.Store); ok {
			o.Shared, o.Lease = pgqueue.NewStore(pg.Pool()), cfg.Queue.Lease.Duration
		}
	}
}
