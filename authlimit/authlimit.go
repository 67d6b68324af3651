// Package authlimit slows down password guessing, on SMTP, IMAP and POP3
// alike: each failed login from a client address doubles the delay before
// that address's next attempt is answered, and after too many failures
// the address is locked out for a while. A success clears the record.
package authlimit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Options configure a Limiter. Zero values take the defaults in brackets.
type Options struct {
	FailDelay       time.Duration // first delay after a failure [1s]
	MaxFailDelay    time.Duration // cap of the doubling delay [30s]
	LockoutFailures int           // failures before lockout [10]
	LockoutTime     time.Duration // how long a lockout lasts [15m]
	Now             func() time.Time
}

// ErrLockedOut is returned while an address is locked out.
var ErrLockedOut = errors.New("too many failed logins from your address; try again later")

// Limiter tracks failures per client address. It is safe for concurrent use.
type Limiter struct {
	opts Options
	mu   sync.Mutex
	recs map[string]*record
}

type record struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	if opts.FailDelay <= 0 {
		opts.FailDelay = time.Second
	}
	if opts.MaxFailDelay <= 0 {
		opts.MaxFailDelay = 30 * time.Second
	}
	if opts.LockoutFailures <= 0 {
		opts.LockoutFailures = 10
	}
	if opts.LockoutTime <= 0 {
		opts.LockoutTime = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{opts: opts, recs: make(map[string]*record)}
}

// Delay is how long to wait before answering a login attempt from ip, or
// ErrLockedOut.
func (l *Limiter) Delay(ip string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recs[ip]
	if r == nil {
		return 0, nil
	}
	now := l.opts.Now()
	if now.Before(r.lockedUntil) {
		return 0, ErrLockedOut
	}
	if now.Sub(r.last) > l.opts.LockoutTime {
		delete(l.recs, ip) // forgiven
		return 0, nil
	}
	d := l.opts.FailDelay << min(r.failures-1, 20)
	return min(d, l.opts.MaxFailDelay), nil
}

// Wait sleeps for Delay(ip), or returns early with ctx's error.
func (l *Limiter) Wait(ctx context.Context, ip string) error {
	d, err := l.Delay(ip)
	if err != nil || d == 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failed records a failed login from ip.
func (l *Limiter) Failed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) > 100000 {
		l.recs = make(map[string]*record) // bounded memory under a wide attack
	}
	r := l.recs[ip]
	if r == nil {
		r = &record{}
		l.recs[ip] = r
	}
	now := l.opts.Now()
	r.failures++
	r.last = now
	if r.failures >= l.opts.LockoutFailures {
		r.lockedUntil = now.Add(l.opts.LockoutTime)
	}
}

// Succeeded clears ip's record.
func (l *Limiter) Succeeded(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.recs, ip)
}
