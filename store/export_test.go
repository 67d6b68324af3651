package store

// JunkTokenHash exposes tokenHash to the tests.
var JunkTokenHash = tokenHash
