package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The package's own tests open stores with these helpers (package
// storetest cannot be used from inside the package).

// openWithAccount opens a store in a temporary folder, closed at the end of
// the test, with one account.
func openWithAccount(t *testing.T) (*Store, *Account) {
	t.Helper()
	s := mustOpen(t, filepath.Join(t.TempDir(), "mail.db"), Options{})
	t.Cleanup(func() { s.Close() })
	acct, err := s.CreateAccount(context.Background(), "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	return s, acct
}

// openInbox opens the store at path, closed at the end of the test (a
// test may close it before), with one account, and returns the account's
// INBOX.
func openInbox(t testing.TB, path string, opts Options) (*Store, MailboxID) {
	t.Helper()
	s := mustOpen(t, path, opts)
	t.Cleanup(func() { s.Close() })
	a, err := s.CreateAccount(context.Background(), "bob@example.org", "secret")
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.MailboxByName(a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return s, in.ID
}

// mustOpen opens the store at path; an error fails the test.
func mustOpen(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open %s: %v", filepath.Base(path), err)
	}
	return s
}

// checkConsistent runs bbolt's consistency check of the whole file.
func checkConsistent(s *Store) error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []string
		for err := range tx.Check() {
			errs = append(errs, err.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("bbolt check: %s", strings.Join(errs, "; "))
		}
		return nil
	})
}
