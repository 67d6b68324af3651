package authlimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"petrel/authlimit"
)

// clock is a settable Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// step is one event for an address: a failure, a success, time passing, or
// a check of what Delay says.
type step struct {
	fail, succeed bool
	ip, user      string
	advance       time.Duration
	check         bool
	wantDelay     time.Duration
	wantLocked    bool
}

func fail(ip string) step                   { return step{fail: true, ip: ip} }
func succeed(ip string) step                { return step{succeed: true, ip: ip} }
func wait(d time.Duration) step             { return step{advance: d} }
func delay(ip string, d time.Duration) step { return step{check: true, ip: ip, wantDelay: d} }
func locked(ip string) step                 { return step{check: true, ip: ip, wantLocked: true} }

// The same for an address trying an account.
func failU(ip, user string) step    { return step{fail: true, ip: ip, user: user} }
func succeedU(ip, user string) step { return step{succeed: true, ip: ip, user: user} }
func delayU(ip, user string, d time.Duration) step {
	return step{check: true, ip: ip, user: user, wantDelay: d}
}

func TestDelay(t *testing.T) {
	opts := authlimit.Options{FailDelay: time.Second, MaxFailDelay: 5 * time.Second, LockoutFailures: 5, LockoutTime: time.Minute}
	tests := []struct {
		name  string
		opts  authlimit.Options
		steps []step
	}{
		{name: "no record, no delay", opts: opts, steps: []step{delay("a", 0)}},
		{name: "delay doubles per failure up to the cap", opts: opts, steps: []step{
			fail("a"), delay("a", time.Second),
			fail("a"), delay("a", 2*time.Second),
			fail("a"), delay("a", 4*time.Second),
			fail("a"), delay("a", 5*time.Second),
		}},
		{name: "lockout after LockoutFailures, for LockoutTime", opts: opts, steps: []step{
			fail("a"), fail("a"), fail("a"), fail("a"), delay("a", 5*time.Second),
			fail("a"), locked("a"),
			wait(59 * time.Second), locked("a"),
			wait(2 * time.Second), delay("a", 0),
		}},
		{name: "addresses are independent", opts: opts, steps: []step{
			fail("a"), fail("a"), fail("b"),
			delay("a", 2*time.Second), delay("b", time.Second), delay("c", 0),
		}},
		{name: "success clears the record", opts: opts, steps: []step{
			fail("a"), fail("a"), fail("a"), succeed("a"), delay("a", 0),
			fail("a"), delay("a", time.Second),
		}},
		{name: "success clears a lockout", opts: opts, steps: []step{
			fail("a"), fail("a"), fail("a"), fail("a"), fail("a"), locked("a"),
			succeed("a"), delay("a", 0),
		}},
		{name: "failures are forgiven after LockoutTime of quiet", opts: opts, steps: []step{
			fail("a"), fail("a"), wait(time.Minute), delay("a", 2*time.Second),
			wait(time.Second), delay("a", 0),
			fail("a"), delay("a", time.Second),
		}},
		{name: "defaults: 1s doubling to 30s, lockout at 10 for 15m", steps: []step{
			fail("a"), delay("a", time.Second),
			fail("a"), fail("a"), fail("a"), fail("a"), delay("a", 16*time.Second),
			fail("a"), delay("a", 30*time.Second),
			fail("a"), fail("a"), fail("a"), delay("a", 30*time.Second),
			fail("a"), locked("a"),
			wait(15*time.Minute - time.Second), locked("a"),
			wait(2 * time.Second), delay("a", 0),
		}},
		{name: "failures on one account from many addresses delay attempts on it", opts: opts, steps: []step{
			failU("a", "bob"), failU("b", "bob"), failU("c", "bob"),
			delayU("d", "bob", 4*time.Second), delayU("d", "BOB", 4*time.Second),
			delayU("d", "carol", 0), delay("d", 0), delayU("a", "carol", time.Second),
		}},
		{name: "no lockout per account, the delay stops at its cap", opts: opts, steps: func() []step {
			var s []step
			for i := range 20 {
				s = append(s, failU(string(rune('a'+i)), "bob"))
			}
			return append(s, delayU("z", "bob", 5*time.Second), delayU("z", "carol", 0))
		}()},
		{name: "an address that logged in since is not delayed by the account's failures", opts: opts, steps: []step{
			failU("a", "bob"), failU("b", "bob"), succeedU("c", "bob"),
			delayU("c", "bob", 0), delayU("d", "bob", 2*time.Second),
			failU("e", "bob"), delayU("c", "bob", 0), delayU("d", "bob", 4*time.Second),
			failU("c", "bob"), delayU("c", "bob", 5*time.Second), // its own failure ends the exemption (4 doubled, capped)
		}},
		{name: "an address that logged in before the failures is not delayed by them", opts: opts, steps: []step{
			succeedU("c", "bob"), failU("a", "bob"), failU("b", "bob"),
			delayU("c", "bob", 0), delayU("d", "bob", 2*time.Second),
		}},
		{name: "an account's failures are forgiven after LockoutTime of quiet", opts: opts, steps: []step{
			failU("a", "bob"), failU("b", "bob"), wait(time.Minute + time.Second), delayU("c", "bob", 0),
			failU("a", "bob"), delayU("c", "bob", time.Second),
		}},
		{name: "AccountMaxFailDelay caps the account's delay",
			opts: authlimit.Options{FailDelay: time.Second, MaxFailDelay: time.Minute, LockoutFailures: 100, AccountMaxFailDelay: 3 * time.Second},
			steps: []step{
				failU("a", "bob"), failU("b", "bob"), failU("c", "bob"), failU("d", "bob"),
				delayU("e", "bob", 3*time.Second), failU("e", "x"), failU("e", "y"), failU("e", "z"), delayU("e", "q", 4*time.Second),
			}},
		{name: "a negative AccountMaxFailDelay turns the account's delay off",
			opts:  authlimit.Options{FailDelay: time.Second, AccountMaxFailDelay: -1},
			steps: []step{failU("a", "bob"), failU("b", "bob"), delayU("c", "bob", 0), delayU("a", "bob", time.Second)}},
		{name: "many failures do not overflow the shift", opts: authlimit.Options{FailDelay: time.Second, MaxFailDelay: time.Hour, LockoutFailures: 1000, LockoutTime: time.Hour},
			steps: func() []step {
				var s []step
				for range 100 {
					s = append(s, fail("a"))
				}
				return append(s, delay("a", time.Hour))
			}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			o := tc.opts
			o.Now = c.now
			l := authlimit.New(o)
			for i, s := range tc.steps {
				ip := s.ip
				switch {
				case s.fail:
					l.Failed(ip, s.user)
				case s.succeed:
					l.Succeeded(ip, s.user)
				case s.advance != 0:
					c.t = c.t.Add(s.advance)
				case s.check:
					d, err := l.Delay(ip, s.user)
					if s.wantLocked {
						if !errors.Is(err, authlimit.ErrLockedOut) {
							t.Errorf("step %d: Delay(%s) = %v, %v; want ErrLockedOut", i, ip, d, err)
						}
						continue
					}
					if err != nil || d != s.wantDelay {
						t.Errorf("step %d: Delay(%s) = %v, %v; want %v", i, ip, d, err, s.wantDelay)
					}
				}
			}
		})
	}
}

func TestWait(t *testing.T) {
	const d = 50 * time.Millisecond
	tests := []struct {
		name     string
		failures int
		ctx      func() (context.Context, context.CancelFunc)
		wantErr  error
		minWait  time.Duration
		maxWait  time.Duration
	}{
		{name: "clean address returns at once", failures: 0, maxWait: d / 2},
		{name: "one failure waits FailDelay", failures: 1, minWait: d, maxWait: 10 * d},
		{name: "locked out returns at once", failures: 3, wantErr: authlimit.ErrLockedOut, maxWait: d / 2},
		{name: "ctx ends the wait", failures: 2, wantErr: context.DeadlineExceeded, maxWait: 2 * d,
			ctx: func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), d/5) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := authlimit.New(authlimit.Options{FailDelay: d, MaxFailDelay: time.Minute, LockoutFailures: 3})
			for range tc.failures {
				l.Failed("192.0.2.1", "")
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			start := time.Now()
			err := l.Wait(ctx, "192.0.2.1", "")
			took := time.Since(start)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Wait = %v, want %v", err, tc.wantErr)
			}
			if took < tc.minWait || took > tc.maxWait {
				t.Errorf("Wait took %v, want between %v and %v", took, tc.minWait, tc.maxWait)
			}
		})
	}
}

// Begin counts attempts in flight against the address's limit, with its
// past failures; ending them frees their place, and only Failed counts.
func TestBeginCountsInFlight(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		outcome  authlimit.Outcome
		admitted int // of 10 begun at once, limit 5
		after    int // admitted once those end
	}{
		{name: "no failures", outcome: authlimit.Undecided, admitted: 5, after: 5},
		{name: "two failures", failures: 2, outcome: authlimit.Undecided, admitted: 3, after: 3},
		{name: "in flight that fail lock out", outcome: authlimit.Failed, admitted: 5, after: 0},
		{name: "in flight that succeed clear", failures: 2, outcome: authlimit.Succeeded, admitted: 3, after: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := authlimit.New(authlimit.Options{FailDelay: time.Nanosecond, MaxFailDelay: time.Nanosecond, LockoutFailures: 5, LockoutTime: time.Hour})
			for range tt.failures {
				l.Failed("192.0.2.1", "")
			}
			begin := func() []func(authlimit.Outcome) {
				var ends []func(authlimit.Outcome)
				for range 10 {
					end, err := l.Begin(t.Context(), "192.0.2.1", "")
					if err == nil {
						ends = append(ends, end)
					} else if !errors.Is(err, authlimit.ErrLockedOut) {
						t.Fatalf("Begin: %v", err)
					}
				}
				return ends
			}
			ends := begin()
			if len(ends) != tt.admitted {
				t.Errorf("%d attempts admitted at once, want %d", len(ends), tt.admitted)
			}
			for _, end := range ends {
				end(tt.outcome)
				end(tt.outcome) // a second call changes nothing
			}
			if got := len(begin()); got != tt.after {
				t.Errorf("after they ended: %d admitted, want %d", got, tt.after)
			}
			if _, err := l.Begin(t.Context(), "192.0.2.2", ""); err != nil {
				t.Errorf("another address: %v", err)
			}
		})
	}
}
