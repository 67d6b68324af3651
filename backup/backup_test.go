package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"petrel/store"
)

// A backup of a live data directory restores into an empty one with the
// store (its messages), the other files, and without the skipped ones or
// the archive itself or the store's write-ahead log; it is refused over an
// existing store, or beside a log.
func TestWriteAndRestore(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(filepath.Join(data, StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.CreateAccount(ctx, "bob@example.org", "a long password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliver(ctx, &store.Delivery{Body: []byte("Subject: kept\r\n\r\nhello\r\n"), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(data, "dkim"), 0o700)
	os.WriteFile(filepath.Join(data, "dkim", "example.org.key"), []byte("KEY"), 0o600)
	os.WriteFile(filepath.Join(data, "control.sock"), []byte("not copied"), 0o600)

	for _, name := range []string{"in-data.tar.gz", "in-data.tar"} {
		t.Run(name, func(t *testing.T) {
			archive := filepath.Join(data, name) // inside the data directory: left out of itself
			defer os.Remove(archive)
			sum, err := WriteFile(ctx, archive, Source{DataDir: data, Store: st.BackupSized, Skip: []string{"control.sock"}})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Files != 2 {
				t.Errorf("archive holds %d files, want 2 (store, DKIM key)", sum.Files)
			}
			dst := filepath.Join(t.TempDir(), "data")
			n, err := RestoreFile(ctx, archive, dst)
			if err != nil || n != 2 {
				t.Fatalf("RestoreFile = %d, %v", n, err)
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "dkim", "example.org.key")); string(b) != "KEY" {
				t.Errorf("DKIM key restored as %q", b)
			}
			if _, err := os.Stat(filepath.Join(data, StoreLog)); err != nil {
				t.Fatalf("the live store has no log to leave out: %v", err)
			}
			for _, absent := range []string{"control.sock", name, StoreLog} {
				if _, err := os.Stat(filepath.Join(dst, absent)); err == nil {
					t.Errorf("%s was restored", absent)
				}
			}
			rs, err := store.Open(filepath.Join(dst, StoreFile), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			a, err := rs.AccountByAddress("bob@example.org")
			if err != nil {
				t.Fatal(err)
			}
			mb, err := rs.MailboxByName(a.ID, "INBOX")
			if err != nil || mb.Messages != 1 {
				t.Fatalf("restored INBOX: %+v, %v", mb, err)
			}
			if _, err := RestoreFile(ctx, archive, dst); !errors.Is(err, ErrStoreExists) {
				t.Errorf("restore over a store: %v", err)
			}
			// A log left from another store file: it would be
			// replayed into the restored one.
			stale := t.TempDir()
			os.WriteFile(filepath.Join(stale, StoreLog), []byte("log"), 0o600)
			if _, err := RestoreFile(ctx, archive, stale); !errors.Is(err, ErrStoreExists) {
				t.Errorf("restore beside a store's log: %v", err)
			}
			if _, err := os.Stat(filepath.Join(stale, StoreFile)); err == nil {
				t.Error("restore beside a store's log wrote the store")
			}
		})
	}
}

// What is not a backup is refused, and no entry may leave the data
// directory.
func TestRestoreRefuses(t *testing.T) {
	tarOf := func(names ...string) *bytes.Buffer {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, n := range names {
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
		}
		tw.Close()
		return &b
	}
	for _, tc := range []struct {
		name string
		r    *bytes.Buffer
		want string
	}{
		{"no store", tarOf("dkim/key"), "not a petrel backup"},
		{"traversal", tarOf(StoreFile, "../escape"), "leaves the data directory"},
		{"absolute", tarOf("/etc/passwd"), "leaves the data directory"},
		{"not tar", bytes.NewBufferString(strings.Repeat("garbage", 200)), "not a petrel backup"},
	} {
		dir := t.TempDir()
		_, err := Restore(context.Background(), tc.r, filepath.Join(dir, "data"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
			t.Errorf("%s: a file was written outside the data directory", tc.name)
		}
	}
}
