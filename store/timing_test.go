package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// An unknown user and a wrong password must cost the same, so that the
// time of a failed login does not tell whether the account exists. Times
// are not compared here (BenchmarkAuthenticate shows them): the dummy hash
// is checked to have the parameters of real ones, and both paths to do the
// same argon2id work, measured by what it allocates (argon2id's memory
// parameter, 19 MiB a check), which a loaded machine does not blur.

// hashParams is what decides the cost of checking a PHC argon2id hash:
// everything but the salt and key bytes.
func hashParams(t *testing.T, h string) string {
	t.Helper()
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		t.Fatalf("not a PHC argon2id hash: %q", h)
	}
	return fmt.Sprintf("%s %s %s salt=%d key=%d", parts[1], parts[2], parts[3], len(parts[4]), len(parts[5]))
}

func openTimingStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "mail.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateAccount(context.Background(), "bob@example.org", "right horse battery"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDummyHashLikeRealOnes(t *testing.T) {
	s := openTimingStore(t)
	var stored string
	s.view(func(tx *bolt.Tx) error {
		rec, err := getAccountTx(tx, "bob@example.org")
		stored = rec.Hash
		return err
	})
	fresh, err := hashPassword("another")
	if err != nil {
		t.Fatal(err)
	}
	want := hashParams(t, stored)
	if got := hashParams(t, dummyHash); got != want {
		t.Errorf("dummy hash %s, an account's %s: an unknown user would cost a different time", got, want)
	}
	if got := hashParams(t, fresh); got != want {
		t.Errorf("hashPassword gives %s, the stored one %s", got, want)
	}
	if !strings.Contains(want, fmt.Sprintf("m=%d,t=%d,p=%d", argonMemory, argonTime, argonThreads)) {
		t.Errorf("stored hash %s lacks the configured parameters", want)
	}
}

// allocatedBy returns the fewest bytes f allocated in three runs.
func allocatedBy(f func()) uint64 {
	least := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

func TestAuthenticateSameWork(t *testing.T) {
	s := openTimingStore(t)
	fail := func(addr, pass string) func() {
		return func() {
			if _, err := s.Authenticate(addr, pass); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("Authenticate(%q): %v, want ErrAuthFailed", addr, err)
			}
		}
	}
	wrong := allocatedBy(fail("bob@example.org", "wrong horse"))
	if wrong < argonMemory*1024 {
		t.Fatalf("a wrong password allocated %d bytes: not an argon2id check of %d KiB", wrong, argonMemory)
	}
	for _, tc := range []struct{ name, addr string }{
		{"unknown user", "nobody@example.org"},
		{"unknown domain", "bob@elsewhere.example"},
		{"not an address", "bob example.org"},
	} {
		got := allocatedBy(fail(tc.addr, "wrong horse"))
		if got < wrong*9/10 || got > wrong*11/10 {
			t.Errorf("%s: %d bytes allocated, a wrong password %d: not the same work", tc.name, got, wrong)
		}
	}
	// The right password, not yet cached, costs the same check too.
	right := allocatedBy(func() {
		s.auth = newAuthCache()
		if _, err := s.Authenticate("bob@example.org", "right horse battery"); err != nil {
			t.Fatal(err)
		}
	})
	if right < wrong*9/10 {
		t.Errorf("the right password: %d bytes allocated, a wrong one %d", right, wrong)
	}
}

// BenchmarkAuthenticate: a wrong password, an unknown user and a malformed
// address take the same time (one argon2id check each); a right password
// already seen is a cache hit.
func BenchmarkAuthenticate(b *testing.B) {
	s := openTimingStore(b)
	for _, bc := range []struct{ name, addr, pass string }{
		{"wrong-password", "bob@example.org", "wrong horse"},
		{"unknown-user", "nobody@example.org", "wrong horse"},
		{"not-an-address", "bob example.org", "wrong horse"},
		{"right-password-cached", "bob@example.org", "right horse battery"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s.Authenticate(bc.addr, bc.pass)
			}
		})
	}
}
