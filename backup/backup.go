// Package backup owns Petrel's backup archive: a tar file (gzipped when its
// name ends in .gz or .tgz) of a whole data directory, in which the mail
// store and the queue are consistent snapshots taken while the server keeps
// running, and everything else (DKIM keys, the TLS certificate, the SRS and
// list secrets) is copied as it is.
//
// Invariants: an archive is written durably (durable.Write: a crash leaves
// the old file or the whole new one); it holds the store snapshot first; a
// restore writes only below the data directory, never over an existing
// store, and each restored file durably; an archive without a store is
// refused as not a backup.
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"petrel/internal/durable"
)

// The two bbolt files of a data directory, taken as snapshots.
const (
	StoreFile = "mail.db"
	QueueFile = "queue.db"
	// StoreLog is the store's write-ahead log (store/wal.go). A backup
	// leaves it out (the store's snapshot holds every commit it holds),
	// and a restore refuses a data_dir that has one: it belongs to
	// another store file.
	StoreLog = StoreFile + "-wal"
)

// Snapshotter is what a live database offers for a backup: a consistent
// snapshot, whose exact size begin is told before it returns where to
// write it (store.Store and queue.Queue's BackupSized).
type Snapshotter func(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error)

// Source is what a backup is taken of.
type Source struct {
	DataDir string
	Store   Snapshotter // required
	Queue   Snapshotter // nil: no queue file in the archive
	// Skip are names relative to DataDir that are not copied (the control
	// socket, files being written).
	Skip []string
}

// Summary says what an archive holds.
type Summary struct {
	Files int   // regular files, snapshots included
	Bytes int64 // their data
}

// IsGzipName reports whether an archive named path is gzipped.
func IsGzipName(path string) bool {
	return strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".tgz")
}

// WriteFile writes the archive of src to path, durably, gzipped by its
// name. The archive's own file is left out when it lies in the data
// directory.
func WriteFile(ctx context.Context, path string, src Source) (Summary, error) {
	var sum Summary
	err := durable.Write(path, 0o600, func(w io.Writer) error {
		var err error
		sum, err = Write(ctx, w, IsGzipName(path), src, path)
		return err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("backup: %w", err)
	}
	return sum, nil
}

// Write writes the archive of src to w. self, when set, is the archive's
// own path, left out if it lies in the data directory.
func Write(ctx context.Context, w io.Writer, gz bool, src Source, self string) (Summary, error) {
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(w)
		w = zw
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	var sum Summary
	snapshot := func(name string, snap Snapshotter) error {
		n, err := snap(ctx, func(size int64) (io.Writer, error) {
			return tw, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: now, Typeflag: tar.TypeReg})
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		sum.Bytes += n
		sum.Files++
		return nil
	}
	if err := snapshot(StoreFile, src.Store); err != nil {
		return Summary{}, err
	}
	if src.Queue != nil {
		if err := snapshot(QueueFile, src.Queue); err != nil {
			return Summary{}, err
		}
	}
	selfAbs := ""
	if self != "" {
		selfAbs, _ = filepath.Abs(self)
	}
	err := filepath.WalkDir(src.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src.DataDir, p)
		if err != nil || rel == "." {
			return err
		}
		if abs, _ := filepath.Abs(p); abs == selfAbs {
			return nil
		}
		switch {
		case rel == StoreFile, rel == QueueFile, rel == StoreLog, strings.HasSuffix(rel, ".tmp"), skipped(src.Skip, rel):
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
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), Size: info.Size(), ModTime: info.ModTime(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		n, err := io.CopyN(tw, f, info.Size())
		sum.Bytes += n
		sum.Files++
		return err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("data_dir %s: %w", src.DataDir, err)
	}
	if err := tw.Close(); err != nil {
		return Summary{}, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return Summary{}, err
		}
	}
	return sum, nil
}

func skipped(skip []string, rel string) bool {
	for _, s := range skip {
		if rel == s {
			return true
		}
	}
	return false
}

// ErrStoreExists is returned by Restore into a data directory that holds a
// store or a queue already.
var ErrStoreExists = errors.New("already holds a mail store")

// RestoreFile unpacks the archive at path (gzipped by its name) into
// dataDir, which must not hold a store or queue. It returns the number of
// files restored.
func RestoreFile(ctx context.Context, path, dataDir string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if IsGzipName(path) {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("restore %s: %w", path, err)
		}
		r = zr
	}
	n, err := Restore(ctx, r, dataDir)
	if err != nil {
		return n, fmt.Errorf("restore %s: %w", path, err)
	}
	return n, nil
}

// Restore unpacks an archive read from r into dataDir (see RestoreFile).
func Restore(ctx context.Context, r io.Reader, dataDir string) (int, error) {
	for _, name := range []string{StoreFile, QueueFile, StoreLog} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			return 0, fmt.Errorf("%s %w (%s): move it away first, or restore into an empty data_dir", dataDir, ErrStoreExists, name)
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, err
	}
	tr := tar.NewReader(r)
	files, sawStore := 0, false
	for {
		if err := ctx.Err(); err != nil {
			return files, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, fmt.Errorf("not a petrel backup: %w", err)
		}
		name := filepath.FromSlash(strings.TrimSuffix(h.Name, "/"))
		if !filepath.IsLocal(name) {
			return files, fmt.Errorf("entry %q leaves the data directory", h.Name)
		}
		dst := filepath.Join(dataDir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return files, err
			}
			continue
		case tar.TypeReg:
		default:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return files, err
		}
		mode := fs.FileMode(h.Mode).Perm()&0o700 | 0o600
		if err := durable.Write(dst, mode, func(w io.Writer) error { _, err := io.Copy(w, tr); return err }); err != nil {
			return files, fmt.Errorf("%s: %w", h.Name, err)
		}
		files++
		sawStore = sawStore || name == StoreFile
	}
	if !sawStore {
		return files, fmt.Errorf("no %s in it: not a petrel backup", StoreFile)
	}
	return files, nil
}
