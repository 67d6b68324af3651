package store

// JunkTokenHash exposes tokenHash to the tests.
var JunkTokenHash = tokenHash

// SetAfterSnapshot makes Watch run f between its snapshot and the start of
// delivery.
func SetAfterSnapshot(s *Store, f func()) { s.afterSnapshot = f }
