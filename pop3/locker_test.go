package pop3_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"petrel/pop3"
)

// sharedLocker is a Locker two servers share, as nodes share PostgreSQL's
// advisory locks.
type sharedLocker struct {
	mu   sync.Mutex
	held map[uint64]bool
	err  error
}

func (l *sharedLocker) LockMaildrop(ctx context.Context, acct uint64) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, false, l.err
	}
	if l.held[acct] {
		return nil, false, nil
	}
	l.held[acct] = true
	return func() {
		l.mu.Lock()
		delete(l.held, acct)
		l.mu.Unlock()
	}, true, nil
}

// TestLockerAcrossServers: with a shared Locker, a maildrop held through
// one server is [IN-USE] on another serving the same store, until QUIT;
// a Locker that fails gives a temporary error, not the maildrop.
func TestLockerAcrossServers(t *testing.T) {
	t.Parallel()
	locker := &sharedLocker{held: map[uint64]bool{}}
	a := newEnv(t, func(o *pop3.Options) { o.Locker = locker })
	// A second server on the same store, as a second node would be.
	b := &env{st: a.st, acct: a.acct, inbox: a.inbox, serverTLS: a.serverTLS, clientTLS: a.clientTLS}
	b.srv = pop3.New(pop3.Options{Store: a.st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LoginDelay: -1, Locker: locker})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = l.Addr().String()
	b.serve(t, l)

	a.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	first := a.login(t)
	second := b.dial(t)
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS secret", "-ERR [IN-USE]")
	first.expect("QUIT", "+OK")
	second.expect("USER alice@example.org", "+OK")
	second.expect("PASS secret", "+OK maildrop has 1 message")
	second.expect("QUIT", "+OK")

	locker.mu.Lock()
	locker.err = errors.New("database down")
	locker.mu.Unlock()
	third := a.dial(t)
	third.expect("USER alice@example.org", "+OK")
	third.expect("PASS secret", "-ERR [SYS/TEMP]")
	third.expect("STAT", "-ERR") // still AUTHORIZATION
	locker.mu.Lock()
	locker.err = nil
	locker.mu.Unlock()
	// The failed attempt left neither lock behind.
	third.expect("USER alice@example.org", "+OK")
	third.expect("PASS secret", "+OK")
}
