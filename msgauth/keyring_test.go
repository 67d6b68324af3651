package msgauth_test

import (
	"os"
	"path/filepath"
	"testing"

	"petrel/msgauth"
)

// A KeyRing signs with a key made after it was opened once it is
// reloaded, and keeps its keys when a reload fails.
func TestKeyRingReload(t *testing.T) {
	dir := t.TempDir()
	k, err := msgauth.OpenKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.DNSRecord("example.org"); ok {
		t.Fatal("a record before any key was made")
	}
	if _, err := msgauth.GenerateKey(dir, "example.org", "s1", "ed25519"); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.DNSRecord("example.org"); ok {
		t.Fatal("the new key is used before Reload")
	}
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.DNSRecord("example.org"); !ok {
		t.Fatal("no record for the new key after Reload")
	}
	if err := os.WriteFile(filepath.Join(dir, "s2._domainkey.broken.example.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(); err == nil {
		t.Fatal("Reload took a malformed key file")
	}
	if _, ok := k.DNSRecord("example.org"); !ok {
		t.Fatal("a failed Reload dropped the keys loaded before")
	}
}
