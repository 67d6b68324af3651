package store

import "time"

// WebSession is one logged-in browser of the web mail, as a store that
// several nodes share keeps it (the web mail's SessionStore). The bbolt
// store keeps none: one node's web mail keeps its sessions in memory.
type WebSession struct {
	Key      string // a hash of the cookie's token, never the token
	Account  uint64
	Address  string
	CSRF     string
	Created  time.Time
	LastSeen time.Time
}
