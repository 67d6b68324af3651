package boltbackup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A snapshot is told its exact size first, holds what was committed before
// it, opens as a bbolt file of its own, and a cancelled context stops it.
func TestSized(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "a.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var told int64
	n, err := Sized(context.Background(), db, func(size int64) (io.Writer, error) {
		told = size
		return &buf, nil
	})
	if err != nil || n != told || int64(buf.Len()) != told {
		t.Fatalf("Sized = %d, %v; told %d, wrote %d", n, err, told, buf.Len())
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := bolt.Open(copyPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
			t.Errorf("snapshot holds %q, want v", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Sized(ctx, db, func(int64) (io.Writer, error) {
		t.Error("begin called with a cancelled context")
		return io.Discard, nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	boom := errors.New("boom")
	if _, err := Sized(context.Background(), db, func(int64) (io.Writer, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("begin's error: %v", err)
	}
}
