package pop3_test

import (
	"sync/atomic"
	"testing"
	"time"

	"petrel/authlimit"
	"petrel/pop3"
)

// Failed logins from one address, each on a new connection, are reported to
// OnAuthFailure and to the shared AuthLimiter: the next attempt waits, and
// after LockoutFailures even the right password is refused.
func TestAuthLimiterAcrossConnections(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	var failures atomic.Int32
	lim := authlimit.New(authlimit.Options{FailDelay: delay, MaxFailDelay: delay, LockoutFailures: 3, LockoutTime: time.Minute})
	e := newEnv(t, func(o *pop3.Options) {
		o.AuthLimiter = lim
		o.OnAuthFailure = func() { failures.Add(1) }
	})
	for i := range 3 {
		c := e.dial(t)
		c.expect("USER alice@example.org", "+OK")
		start := time.Now()
		c.expect("PASS wrong", "-ERR [AUTH]")
		if d := time.Since(start); i > 0 && d < delay {
			t.Errorf("failure %d answered after %v, before the limiter's %v", i+1, d, delay)
		}
		c.expect("QUIT", "+OK")
	}
	if n := failures.Load(); n != 3 {
		t.Errorf("OnAuthFailure called %d times, want 3", n)
	}
	c := e.dial(t)
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret", "-ERR [SYS/TEMP] too many failed logins")
	c.expect("AUTH PLAIN "+plain("", "alice@example.org", "secret"), "-ERR [SYS/TEMP]")
	if n := failures.Load(); n != 3 {
		t.Errorf("refused logins counted as failures: %d, want 3", n)
	}

	// Once the address's record is cleared, the right password works.
	lim.Succeeded("127.0.0.1", "alice@example.org")
	e.login(t).expect("QUIT", "+OK")
}
