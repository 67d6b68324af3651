// Package durable writes files so that a crash at any moment leaves either
// no file (or the old one) or the whole new one, never a part: the one way
// Petrel writes its keys, certificates, backups and restored files.
//
// Each write goes to a temporary file in the same folder (named
// .NAME-*.tmp, so folder walks can pass it over), which is written, given
// its mode, fsync'd and closed, then renamed (or linked) into place, and
// the folder is fsync'd so that the new name itself survives a crash.
package durable

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Write writes the file at path with mode perm from what write writes,
// replacing any file there. The folder must exist.
func Write(path string, perm fs.FileMode, write func(w io.Writer) error) error {
	return put(path, perm, write, false)
}

// WriteFile is Write for data already in memory.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return put(path, perm, func(w io.Writer) error { _, err := w.Write(data); return err }, false)
}

// Create is WriteFile that never replaces: when path exists already
// (another process was first) it returns an error that matches
// fs.ErrExist and leaves that file as it is.
func Create(path string, data []byte, perm fs.FileMode) error {
	return put(path, perm, func(w io.Writer) error { _, err := w.Write(data); return err }, true)
}

func put(path string, perm fs.FileMode, write func(w io.Writer) error, noReplace bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if noReplace {
		err = os.Link(tmp.Name(), path)
		os.Remove(tmp.Name())
		if err != nil {
			var le *os.LinkError
			if errors.As(err, &le) {
				err = le.Err
			}
			return fmt.Errorf("create %s: %w", path, err)
		}
	} else if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a folder, so that the names made, renamed or removed in
// it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// Datasync flushes f's data, and the metadata needed to read it back (its
// size), to the disk: fdatasync(2), which skips the timestamps fsync
// would also write.
func Datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}
