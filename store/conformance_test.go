package store_test

import (
	"path/filepath"
	"testing"

	"petrel/store"
	"petrel/store/storetest"
)

// The bbolt store keeps the contract every backend is held to.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		New: func(t testing.TB) storetest.Backend { return storetest.Open(t) },
		Reopen: func(t testing.TB, b storetest.Backend) storetest.Backend {
			s := b.(*store.Store)
			path := s.Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		NewJunk: func(t testing.TB, o storetest.JunkOptions) storetest.Backend {
			s, err := store.Open(filepath.Join(t.TempDir(), "mail.db"), store.Options{JunkTokens: o.Tokens, JunkShared: o.Shared, JunkMaxTokens: o.MaxTokens})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}

// BenchmarkBackend: the writes storetest.Bench measures on every backend,
// here on bbolt (compare store/pgstore's BenchmarkBackend).
func BenchmarkBackend(b *testing.B) {
	storetest.Bench(b, storetest.Factory{New: func(t testing.TB) storetest.Backend {
		s, err := store.Open(filepath.Join(t.TempDir(), "mail.db"), store.Options{CheapPasswordHash: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}})
}
