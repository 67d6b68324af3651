package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"petrel/config"
)

// The two bbolt files of a data directory. Everything else in it (DKIM
// keys, the TLS certificate, the SRS and list secrets) is small and
// written once, and is copied as it is.
const (
	mailDBName  = "mail.db"
	queueDBName = "queue.db"
)

// backup writes FILE: a tar archive (gzipped when FILE ends in .gz or
// .tgz) of the whole data directory, with the mail store and the queue as
// consistent snapshots taken while the server keeps running. `petrel
// restore FILE` puts it back.
func backup(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	path := args[0]
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, files, err := writeBackup(ctx, env, f, isGzipName(path), path)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		os.Remove(path + ".tmp")
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(out, "wrote %s: %d files, %s of data, the mail store and queue consistent as of %s; restore with `petrel restore %s` on a stopped server\n",
		path, files, humanSize(n), time.Now().UTC().Format(time.RFC3339), path)
	return nil
}

func isGzipName(path string) bool {
	return strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".tgz")
}

// writeBackup writes the archive to w and returns the data bytes and files
// it holds. skip is the archive's own path, left out if it lies in the
// data directory.
func writeBackup(ctx context.Context, env *adminEnv, w io.Writer, gz bool, skip string) (int64, int, error) {
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(w)
		w = zw
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	var total int64
	files := 0
	snapshot := func(name string, snap func(ctx context.Context, begin func(int64) (io.Writer, error)) (int64, error)) error {
		n, err := snap(ctx, func(size int64) (io.Writer, error) {
			return tw, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: now, Typeflag: tar.TypeReg})
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		total += n
		files++
		return nil
	}
	if err := snapshot(mailDBName, env.store.BackupSized); err != nil {
		return 0, 0, err
	}
	if q := env.extra.queue; q != nil {
		if err := snapshot(queueDBName, q.BackupSized); err != nil {
			return 0, 0, err
		}
	}
	skipAbs, _ := filepath.Abs(skip)
	err := filepath.WalkDir(env.cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(env.cfg.DataDir, p)
		if err != nil || rel == "." {
			return err
		}
		if abs, _ := filepath.Abs(p); abs == skipAbs || abs == skipAbs+".tmp" {
			return nil
		}
		switch {
		case rel == mailDBName, rel == queueDBName, rel == controlSocketName, strings.HasSuffix(rel, ".tmp"):
			return nil
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel) + "/", Mode: 0o700, ModTime: now, Typeflag: tar.TypeDir})
		case !d.Type().IsRegular():
			return nil // sockets and the like
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), Size: info.Size(), ModTime: info.ModTime(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		n, err := io.CopyN(tw, src, info.Size())
		total += n
		files++
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("data_dir %s: %w", env.cfg.DataDir, err)
	}
	if err := tw.Close(); err != nil {
		return 0, 0, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return 0, 0, err
		}
	}
	return total, files, nil
}

// restore unpacks a backup into the data directory of a stopped server.
// It refuses to overwrite a store, and to run beside a live server.
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
	for _, name := range []string{mailDBName, queueDBName} {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, name)); err == nil {
			return fmt.Errorf("restore: %s already holds a mail store (%s): move it away first, or restore into an empty data_dir", cfg.DataDir, name)
		}
	}
	f, err := os.Open(args[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if isGzipName(args[0]) {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("restore %s: %w", args[0], err)
		}
		r = zr
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tr := tar.NewReader(r)
	files, sawStore := 0, false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore %s: not a petrel backup: %w", args[0], err)
		}
		name := filepath.FromSlash(strings.TrimSuffix(h.Name, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("restore %s: entry %q leaves the data directory", args[0], h.Name)
		}
		dst := filepath.Join(cfg.DataDir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			continue
		case tar.TypeReg:
		default:
			continue
		}
		if err := writeRestored(dst, fs.FileMode(h.Mode).Perm()&0o700, tr); err != nil {
			return fmt.Errorf("restore %s: %w", h.Name, err)
		}
		files++
		sawStore = sawStore || name == mailDBName
	}
	if !sawStore {
		return fmt.Errorf("restore %s: no %s in it: not a petrel backup", args[0], mailDBName)
	}
	fmt.Fprintf(out, "restored %d files into %s; start petrel with the same configuration\n", files, cfg.DataDir)
	return nil
}

// writeRestored writes one file durably, through a temporary name.
func writeRestored(dst string, mode fs.FileMode, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(dst+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode|0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(dst+".tmp", dst)
	}
	if err != nil {
		os.Remove(dst + ".tmp")
	}
	return err
}
