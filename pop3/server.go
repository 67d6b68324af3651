package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"petrel/authlimit"
	"petrel/internal/quickack"
	"petrel/netlimit"
)

// Options configure a Server.
type Options struct {
	Store  Store
	Logger *slog.Logger // nil means slog.Default()
	// TLSConfig enables STLS on plain listeners. Implicit-TLS listeners are
	// wrapped by the caller (tls.NewListener) and need nothing here.
	TLSConfig *tls.Config
	// Hostname is named in the greeting; "" means os.Hostname().
	Hostname string
	// IdleTimeout closes a session that sends nothing for this long;
	// 0 means RFC 1939's 10 minutes.
	IdleTimeout time.Duration
	// LoginDelay is the pause after the first failed login of a
	// connection; each further failure waits one LoginDelay more, and the
	// connection is closed after MaxLoginFailures. 0 means one second,
	// a negative value means no pause (tests).
	LoginDelay time.Duration
	// AuthLimiter, if set, delays and locks out logins from addresses that
	// keep failing, across connections (*authlimit.Limiter is one).
	// OnAuthFailure, if set, is called after every failed login (metrics).
	AuthLimiter   AuthLimiter
	OnAuthFailure func()
	// Locker, if set, makes the maildrop lock hold across every server
	// that shares the store (several nodes on PostgreSQL); nil: the lock
	// is this server's own, which is enough when no other process serves
	// the store (bbolt).
	Locker Locker
}

// Locker gives one session at a time an account's maildrop, across every
// server sharing the store. ok is false when another session holds it;
// release gives it back (and is called exactly once when ok).
type Locker interface {
	LockMaildrop(ctx context.Context, acct uint64) (release func(), ok bool, err error)
}

// AuthLimiter throttles logins per client address: Begin admits an
// attempt (counting it in flight) before the password is checked, and end
// records how it went.
type AuthLimiter interface {
	Begin(ctx context.Context, ip, user string) (end func(authlimit.Outcome), err error)
}

// MaxLoginFailures is how many failed logins a connection gets.
const MaxLoginFailures = 5

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pop3: server closed")

// Server is a POP3 server. Call Serve for each listener (plain ones offer
// STLS, tls.Listeners are implicit TLS) and Shutdown to stop.
type Server struct {
	opts Options
	log  *slog.Logger

	// ctx ends when Shutdown gives up waiting; it cancels sessions' store
	// calls.
	ctx    context.Context
	cancel context.CancelFunc

	closing atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	locked    map[uint64]*session // account ID -> session holding its maildrop
	released  map[*session]func() // the shared locks (Options.Locker) sessions hold
	wg        sync.WaitGroup      // one per session
}

// New returns a Server. Options.Store is required.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute // RFC 1939 section 3
	}
	if opts.LoginDelay == 0 {
		opts.LoginDelay = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:      opts,
		log:       opts.Logger.With("proto", "pop3"),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		locked:    make(map[uint64]*session),
		released:  make(map[*session]func()),
	}
}

// Serve accepts connections on l until Shutdown, and returns
// ErrServerClosed then. Connections from a tls.Listener are implicit TLS.
func (s *Server) Serve(l net.Listener) error {
	if s.opts.Store == nil {
		return errors.New("pop3: Options.Store is nil")
	}
	l = netlimit.Steady(l, s.log) // failures that pass (EMFILE) are retried there
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return fmt.Errorf("pop3: accept on %s: %w", l.Addr(), err)
		}
		if _, isTLS := nc.(*tls.Conn); !isTLS {
			// Clients that write a command in pieces with Nagle on
			// would otherwise wait for our delayed ACK (40 ms).
			nc = quickack.Wrap(nc)
		}
		sess := newSession(s, nc)
		if !s.track(sess) {
			nc.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.untrack(sess)
			sess.serve(s.ctx)
		}()
	}
}

func (s *Server) track(c *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *session) {
	s.mu.Lock()
	delete(s.sessions, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting, tells idle sessions to end (they are sent
// "-ERR [SYS/TEMP]" and closed without entering UPDATE, so nothing is
// deleted) and lets a command in progress finish. If ctx ends first, the
// remaining connections are closed and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("pop3: close listener: %w", err))
		}
	}
	for c := range s.sessions {
		c.interrupt()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return errors.Join(errs...)
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.sessions {
		c.closeConn()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// lock gives c the maildrop of account acct, if no other session has it
// (RFC 1939 section 8: exclusive-access lock): first this server's own
// lock, then, with Options.Locker, the one shared with other servers.
func (s *Server) lock(ctx context.Context, acct uint64, c *session) (bool, error) {
	s.mu.Lock()
	if _, held := s.locked[acct]; held {
		s.mu.Unlock()
		return false, nil
	}
	s.locked[acct] = c
	s.mu.Unlock()
	if s.opts.Locker == nil {
		return true, nil
	}
	release, ok, err := s.opts.Locker.LockMaildrop(ctx, acct)
	if err != nil || !ok {
		s.unlock(acct, c)
		return false, err
	}
	s.mu.Lock()
	s.released[c] = release
	s.mu.Unlock()
	return true, nil
}

func (s *Server) unlock(acct uint64, c *session) {
	s.mu.Lock()
	release := s.released[c]
	delete(s.released, c)
	if s.locked[acct] == c {
		delete(s.locked, acct)
	}
	s.mu.Unlock()
	if release != nil {
		release()
	}
}

// RejectBusy writes POP3's "too busy" reply, -ERR [SYS/TEMP] with the
// reason, on a connection refused by a connection limit (netlimit's
// reject function).
func RejectBusy(c net.Conn, why error) { netlimit.Reject(c, "-ERR [SYS/TEMP]", why) }
