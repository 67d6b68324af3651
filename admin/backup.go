package admin

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"petrel/backup"
	"petrel/config"
	"petrel/control"
)

// backupCmd is `petrel backup FILE` (the archive: package backup).
func backupCmd(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	path := args[0]
	if env.Bolt == nil {
		return fmt.Errorf("petrel backup archives a bbolt data_dir; with store.backend = %q back up the database with PostgreSQL's own tools (pg_dump, or base backups and WAL archiving) and each node's data_dir (TLS, DKIM and SRS keys) as files", env.Config.Store.Backend)
	}
	src := backup.Source{DataDir: env.Config.DataDir, Store: env.Bolt.BackupSized, Skip: []string{control.SocketName}}
	if q := env.Queue; q != nil {
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
func (c *CLI) restore(ctx context.Context, args []string) error {
	g, out := c.Flags, c.Stdout
	if len(args) != 1 {
		return Usagef("usage: petrel restore FILE")
	}
	cfg, err := config.Load(g.Config, os.Environ(), false)
	if err != nil {
		return err
	}
	var d net.Dialer
	if c, err := d.DialContext(ctx, "unix", control.Path(cfg.DataDir)); err == nil {
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
