package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"petrel/backup"
	"petrel/config"
)

// backupCmd is `petrel backup FILE` (the archive: package backup).
func backupCmd(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	path := args[0]
	if env.bolt == nil {
		return fmt.Errorf("petrel backup archives a bbolt data_dir; with store.backend = %q back up the database with PostgreSQL's own tools (pg_dump, or base backups and WAL archiving) and each node's data_dir (TLS, DKIM and SRS keys) as files", env.cfg.Store.Backend)
	}
	src := backup.Source{DataDir: env.cfg.DataDir, Store: env.bolt.BackupSized, Skip: []string{controlSocketName}}
	if q := env.extra.queue; q != nil {
		src.Queue = q.BackupSized
	}
	sum, err := backup.WriteFile(ctx, path, src)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d files, %s of data, the mail store and queue consistent as of %s; restore with `petrel restore %s` on a stopped server\n",
		path, sum.Files, humanSize(sum.Bytes), time.Now().UTC().Format(time.RFC3339), path)
	return nil
}

// restore is `petrel restore FILE`: into the data directory of a stopped
// server.
func restore(ctx context.Context, g globalFlags, args []string, out io.Writer) error {
	if len(args) != 1 {
		return usagef("usage: petrel restore FILE")
	}
	cfg, err := config.Load(g.config, os.Environ(), false)
	if err != nil {
		return err
	}
	var d net.Dialer
	if c, err := d.DialContext(ctx, "unix", controlPath(cfg.DataDir)); err == nil {
		c.Close()
		return fmt.Errorf("restore: petrel is running on %s: stop it first", cfg.DataDir)
	}
	files, err := backup.RestoreFile(ctx, args[0], cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %d files into %s; start petrel with the same configuration\n", files, cfg.DataDir)
	return nil
}
