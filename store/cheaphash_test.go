package store_test

import (
	"path/filepath"
	"strings"
	"testing"

	"petrel/store"
)

// CheapPasswordHash (for tests that make thousands of accounts) still
// checks passwords, with bcrypt's lowest cost.
func TestCheapPasswordHash(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAccount(ctx, "bob@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("bob@example.com", "pw"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if _, err := s.Authenticate("bob@example.com", "wrong"); err == nil {
		t.Error("wrong password accepted")
	}
	var buf strings.Builder
	if _, err := s.Backup(ctx, &buf); err != nil || !strings.Contains(buf.String(), `"hash":"$2a$04$`) {
		t.Errorf("the stored hash is not bcrypt at cost 4 (%v)", err)
	}
}
