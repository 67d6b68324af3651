// Package storetest opens throw-away stores for tests of the packages built
// on the store, and checks the bbolt file's consistency when a test ends.
// It also holds the store's conformance suite: Backend, the store's methods
// as the front-ends use them, and Run, the tests of the contract (the store
// package's doc) that every backend passes, bbolt and PostgreSQL alike.
package storetest

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"petrel/store"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Open returns a store in t.TempDir(), closed (and checked) at the end of t.
func Open(t testing.TB) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mail.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.VerifyUsage(); err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
			t.Errorf("quota usage: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
		Check(t, path)
	})
	return s
}

// Check runs bbolt's consistency check over the file at path.
func Check(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Errorf("check store: %v", err)
		return
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("store consistency: %v", err)
		}
		return nil
	})
}

// Account makes an account with the given address and password "secret".
func Account(t testing.TB, s *store.Store, address string) *store.Account {
	t.Helper()
	a, err := s.CreateAccount(context.Background(), address, "secret")
	if err != nil {
		t.Fatalf("create account %s: %v", address, err)
	}
	return a
}

// Inbox returns the account's INBOX.
func Inbox(t testing.TB, s *store.Store, acct *store.Account) *store.Mailbox {
	t.Helper()
	m, err := s.MailboxByName(acct.ID, "INBOX")
	if err != nil {
		t.Fatalf("inbox of %s: %v", acct.Address, err)
	}
	return m
}
