package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// JunkTokenHash exposes tokenHash to the tests.
var JunkTokenHash = tokenHash

// SetAfterSnapshot makes Watch run f between its snapshot and the start of
// delivery.
func SetAfterSnapshot(s *Store, f func()) { s.afterSnapshot = f }

// rawUpdate runs fn in a write transaction of its own, committed as every
// write is (through the committer and its log), for tests that shape the
// file's contents directly.
func (s *Store) rawUpdate(fn func(*bolt.Tx) error) error {
	return s.update(context.Background(), func(t *tx) error { return fn(t.Tx) })
}
