// Package authlimit slows down password guessing, on SMTP, IMAP and POP3
// alike: each failed login from a client address doubles the delay before
// that address's next attempt is answered, and after too many failures
// the address is locked out for a while. A success clears the record.
//
// Failures against one account count too, whatever address they come
// from (a guessing attack spread over many addresses): each doubles the
// delay before the next attempt on that account is answered, up to
// AccountMaxFailDelay. There is no lockout per account, which would let
// anyone lock its owner out; and addresses that logged in to the account
// since its last failures are not delayed by them.
//
// Attempts in flight count: Begin admits an attempt from an address only
// while its failures plus its attempts being checked stay under the
// lockout limit, so that a burst of simultaneous guesses cannot all be
// checked before the first of them is recorded as failed.
package authlimit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Limiter. Zero values take the defaults in brackets.
type Options struct {
	FailDelay       time.Duration // first delay after a failure [1s]
	MaxFailDelay    time.Duration // cap of the doubling delay [30s]
	LockoutFailures int           // failures before lockout [10]
	LockoutTime     time.Duration // how long a lockout lasts [15m]
	// AccountMaxFailDelay caps the delay per account [MaxFailDelay];
	// negative turns the delay per account off.
	AccountMaxFailDelay time.Duration
	Now                 func() time.Time
}

// ErrLockedOut is returned while an address is locked out, or by Begin
// while the address's failures and attempts in flight reach the limit.
var ErrLockedOut = errors.New("too many failed logins from your address; try again later")

// Limiter tracks failures per client address and per account. It is safe
// for concurrent use.
type Limiter struct {
	opts     Options
	mu       sync.Mutex
	recs     map[string]*record
	accts    map[string]*acctRecord
	inFlight map[string]int // attempts admitted by Begin and not yet ended, per address
}

type record struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

// acctRecord is one account's failures, and the addresses that logged in
// to it (at most maxGood, the latest kept), before or since: a client
// that logged in before a guessing attack on its account began is not
// delayed by it either.
type acctRecord struct {
	failures int
	last     time.Time // of the last failure
	lastGood time.Time // of the last success
	good     []string
}

const (
	maxRecords = 100000
	maxGood    = 8
)

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
	if opts.AccountMaxFailDelay == 0 {
		opts.AccountMaxFailDelay = opts.MaxFailDelay
	}
	return &Limiter{opts: opts, recs: make(map[string]*record), accts: make(map[string]*acctRecord), inFlight: make(map[string]int)}
}

// Delay is how long to wait before answering a login attempt from ip for
// user ("" when not known), or ErrLockedOut.
func (l *Limiter) Delay(ip, user string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	var d time.Duration
	if r := l.recs[ip]; r != nil {
		switch {
		case now.Before(r.lockedUntil):
			return 0, ErrLockedOut
		case now.Sub(r.last) > l.opts.LockoutTime:
			delete(l.recs, ip) // forgiven
		default:
			d = min(l.opts.FailDelay<<min(r.failures-1, 20), l.opts.MaxFailDelay)
		}
	}
	user = strings.ToLower(user)
	if a := l.accts[user]; a != nil && user != "" {
		switch {
		case now.Sub(a.last) > l.opts.LockoutTime:
			// The failures are forgiven; the addresses that logged in
			// stay known, until they too are that old.
			if a.failures = 0; now.Sub(a.lastGood) > l.opts.LockoutTime {
				delete(l.accts, user)
			}
		case a.failures > 0 && !slices.Contains(a.good, ip):
			d = max(d, min(l.opts.FailDelay<<min(a.failures-1, 20), l.opts.AccountMaxFailDelay))
		}
	}
	return d, nil
}

// Wait sleeps for Delay(ip, user), or returns early with ctx's error.
func (l *Limiter) Wait(ctx context.Context, ip, user string) error {
	d, err := l.Delay(ip, user)
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

// Failed records a failed login from ip for user ("" when not known).
func (l *Limiter) Failed(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) > maxRecords {
		l.recs = make(map[string]*record) // bounded memory under a wide attack
	}
	if len(l.accts) > maxRecords {
		l.accts = make(map[string]*acctRecord)
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
	if user = strings.ToLower(user); user == "" || l.opts.AccountMaxFailDelay < 0 {
		return
	}
	a := l.accts[user]
	if a == nil {
		a = &acctRecord{}
		l.accts[user] = a
	}
	a.failures++
	a.last = now
	a.good = slices.DeleteFunc(a.good, func(g string) bool { return g == ip })
}

// Succeeded clears ip's record, and exempts ip from the delay of user's
// failures, past and to come.
func (l *Limiter) Succeeded(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.recs, ip)
	user = strings.ToLower(user)
	if user == "" || l.opts.AccountMaxFailDelay < 0 {
		return
	}
	a := l.accts[user]
	if a == nil {
		if len(l.accts) > maxRecords {
			l.accts = make(map[string]*acctRecord)
		}
		a = &acctRecord{}
		l.accts[user] = a
	}
	a.lastGood = l.opts.Now()
	if slices.Contains(a.good, ip) {
		return
	}
	if len(a.good) == maxGood {
		a.good = a.good[1:]
	}
	a.good = append(a.good, ip)
}

// Outcome is how a login attempt ended.
type Outcome int

const (
	// Succeeded: the password was right.
	Succeeded Outcome = iota
	// Failed: the password (or the user) was wrong.
	Failed
	// Undecided: the password was not checked (the server was busy, the
	// client left); it counts neither way.
	Undecided
)

// Begin admits a login attempt from ip for user ("" when not known): it
// counts the attempt as in flight, then waits the delay the address's and
// the account's past failures call for. It returns ErrLockedOut when the
// address is locked out or its failures and attempts in flight together
// reach LockoutFailures, and ctx's error if ctx ends during the wait. When
// it returns nil the caller checks the password and must call end once
// with the outcome.
func (l *Limiter) Begin(ctx context.Context, ip, user string) (end func(Outcome), err error) {
	if err := l.admit(ip); err != nil {
		return nil, err
	}
	var once sync.Once
	end = func(o Outcome) {
		once.Do(func() {
			l.mu.Lock()
			if l.inFlight[ip]--; l.inFlight[ip] <= 0 {
				delete(l.inFlight, ip)
			}
			l.mu.Unlock()
			switch o {
			case Succeeded:
				l.Succeeded(ip, user)
			case Failed:
				l.Failed(ip, user)
			}
		})
	}
	if err := l.Wait(ctx, ip, user); err != nil {
		end(Undecided)
		return nil, err
	}
	return end, nil
}

// admit counts an attempt from ip in flight, if its failures and the
// attempts already in flight leave room under the lockout limit.
func (l *Limiter) admit(ip string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	failures := 0
	if r := l.recs[ip]; r != nil {
		if now.Before(r.lockedUntil) {
			return ErrLockedOut
		}
		if now.Sub(r.last) <= l.opts.LockoutTime {
			failures = r.failures
		}
	}
	if failures+l.inFlight[ip] >= l.opts.LockoutFailures {
		return ErrLockedOut
	}
	l.inFlight[ip]++
	return nil
}
