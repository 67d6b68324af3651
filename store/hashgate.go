package store

import (
	"errors"
	"runtime"
)

// ErrBusy is returned by Authenticate when more passwords wait to be checked
// than the store takes: the client should try again later (IMAP's
// NO [UNAVAILABLE], POP3's -ERR [SYS/TEMP], SMTP's 454 4.7.0).
var ErrBusy = errors.New("too many logins being checked now, try again later")

// hashGate bounds the password hashes checked at once: argon2id takes 19 MiB
// a check, so a login storm, unknown users included, would otherwise cost
// memory without limit. At most workers checks run (by default half the
// CPUs, at least one: a storm of guesses leaves CPU to serve everything
// else); at most queue more wait for a turn; a check beyond those is
// refused at once (ErrBusy), shedding the load instead of queueing it.
type hashGate struct {
	admit chan struct{} // running + waiting
	run   chan struct{} // running
}

func newHashGate(workers, queue int) *hashGate {
	if workers <= 0 {
		workers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if queue < 0 {
		queue = 0
	} else if queue == 0 {
		queue = 16 * workers
	}
	return &hashGate{admit: make(chan struct{}, workers+queue), run: make(chan struct{}, workers)}
}

// do runs f when a worker is free, or returns ErrBusy at once when the
// queue is full.
func (g *hashGate) do(f func()) error {
	select {
	case g.admit <- struct{}{}:
	default:
		return ErrBusy
	}
	g.run <- struct{}{}
	defer func() {
		<-g.run
		<-g.admit
	}()
	f()
	return nil
}

// busy reports err (ErrBusy) to Options.OnAuthBusy and returns it.
func (s *Store) busy(err error) error {
	if s.opts.OnAuthBusy != nil {
		s.opts.OnAuthBusy()
	}
	return err
}
