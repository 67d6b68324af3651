package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"petrel/authlimit"
	"petrel/internal/quickack"
	"petrel/netlimit"
	"petrel/store"
)

// Options configure a Server. Store is required.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// TLSConfig is offered through STARTTLS on plain listeners. Implicit-TLS
	// listeners (imaps) come already wrapped by the caller.
	TLSConfig *tls.Config
	// AutoLogout ends a session that sends nothing for this long; 0 means
	// 30 minutes, the minimum RFC 9051 5.4 allows. The clock stops while
	// the client is in IDLE (which RFC 2177 clients renew every 29 minutes).
	AutoLogout time.Duration
	// AppendLimit is the largest message APPEND accepts; 0 means 50 MiB.
	AppendLimit uint32
	// AuthLimiter, if set, delays and locks out logins from addresses that
	// keep failing (*authlimit.Limiter is one). OnAuthFailure, if set, is
	// called after every failed login (metrics).
	AuthLimiter   AuthLimiter
	OnAuthFailure func()
	// OnOverQuota, if set, is called for each APPEND ("imap-append") or
	// COPY ("imap-copy") refused with NO [OVERQUOTA] (metrics).
	OnOverQuota func(where string)
}

// AuthLimiter throttles logins per client address: Begin admits an
// attempt (counting it in flight) before the password is checked, and end
// records how it went.
type AuthLimiter interface {
	Begin(ctx context.Context, ip, user string) (end func(authlimit.Outcome), err error)
}

const (
	defaultAutoLogout  = 30 * time.Minute
	defaultAppendLimit = 50 << 20
)

// Server serves the store over IMAP on any number of listeners.
//
// Whether plaintext LOGIN is allowed is decided per connection: TLS
// connections and connections from loopback may log in; others are shown
// LOGINDISABLED and STARTTLS. The accept loop hands each connection to
// the session loop of its policy (secureL, loopbackL).
type Server struct {
	opts Options
	log  *slog.Logger

	secureL, loopbackL *chanListener
	conns              map[*session]struct{} // guarded by mu
	// notifiers are the NOTIFY sessions by account (cmd_notify.go),
	// guarded by mu.
	notifiers map[uint64]map[*notifier]struct{}

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	closed    bool
	sessions  sync.WaitGroup

	mboxMu    sync.Mutex
	mailboxes map[store.MailboxID]*mailbox   // open mailboxes, reference-counted
	recent    map[store.MailboxID]recentMark // of mailboxes not open; guarded by mboxMu
	started   time.Time                      // messages since are \Recent to someone

	headerCaches *headerCaches // SEARCH's, kept while mailboxes close

	corkBufs sync.Pool // output buffers lent to busy connections (corkConn)
	metaBufs sync.Pool // of *[]store.Message: FETCH's batches of metadata
	// readers and writers are the sessions' bufio buffers, given back
	// while a session waits in IDLE or under NOTIFY (wait.go).
	readers, writers sync.Pool

	deflaters deflatePool // compressors lent to COMPRESS bursts (deflateConn)
}

// New makes a Server; call Serve for each listener.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AutoLogout <= 0 {
		opts.AutoLogout = defaultAutoLogout
	}
	if opts.AppendLimit == 0 {
		opts.AppendLimit = defaultAppendLimit
	}
	s := &Server{
		opts:         opts,
		log:          opts.Logger.With("service", "imap"),
		listeners:    make(map[net.Listener]struct{}),
		mailboxes:    make(map[store.MailboxID]*mailbox),
		recent:       make(map[store.MailboxID]recentMark),
		started:      time.Now().Truncate(time.Second),
		headerCaches: newHeaderCaches(defaultCacheBudget),
		secureL:      newChanListener(),
		loopbackL:    newChanListener(),
	}
	s.conns = make(map[*session]struct{})
	s.deflaters.maxFree = 8
	go s.sessionsFrom(s.secureL, false)
	go s.sessionsFrom(s.loopbackL, true)
	<-s.secureL.ready
	<-s.loopbackL.ready
	return s
}

// Serve accepts connections on l until l fails or Close is called, when it
// returns nil. A tls.Listener gives implicit TLS (imaps); on a plain one
// STARTTLS is offered.
func (s *Server) Serve(l net.Listener) error {
	l = netlimit.Steady(l, s.log) // failures that pass (EMFILE) are retried there
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("imap: serve %s: server closed", l.Addr())
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("imap: accept on %s: %w", l.Addr(), err)
		}
		target := s.secureL
		if _, isTLS := c.(*tls.Conn); !isTLS && isLoopback(c.RemoteAddr()) {
			target = s.loopbackL
		}
		c = s.cork(c)
		if !target.hand(c) {
			c.Close()
			return nil
		}
	}
}

// cork puts a corkConn under the session's protocol: under TLS for a
// tls.Listener's connection (made again over the corked one with
// Options.TLSConfig, before its handshake: go-imap must still see a
// *tls.Conn to allow LOGIN), directly otherwise (STARTTLS then builds TLS
// on top of it). Under the cork the socket acknowledges each read at once
// (internal/quickack): an APPEND literal whose CRLF a Nagle-on client
// (imaplib) writes separately otherwise waits 40 ms for our delayed ACK.
func (s *Server) cork(c net.Conn) net.Conn {
	tc, isTLS := c.(*tls.Conn)
	if !isTLS {
		return newCorkConn(quickack.Wrap(c), &s.corkBufs)
	}
	if s.opts.TLSConfig == nil || tc.ConnectionState().HandshakeComplete {
		return c
	}
	return tls.Server(newCorkConn(quickack.Wrap(tc.NetConn()), &s.corkBufs), s.opts.TLSConfig)
}

// Close stops every listener, closes every connection and waits for their
// sessions to end. The store stays open: it belongs to the caller.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, fmt.Errorf("imap: close %s: %w", l.Addr(), cerr))
		}
	}
	for sess := range s.conns {
		sess.end(endShutdown)
	}
	s.mu.Unlock()
	s.secureL.Close()
	s.loopbackL.Close()
	s.sessions.Wait()
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sessionsFrom runs a session for each connection l hands over;
// insecure allows plaintext LOGIN on them.
func (s *Server) sessionsFrom(l *chanListener, insecure bool) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go s.serveConn(c, insecure)
	}
}

// RejectBusy writes IMAP's "too busy" reply, BYE [UNAVAILABLE] with the
// reason, on a connection refused by a connection limit (netlimit's
// reject function).
func RejectBusy(c net.Conn, why error) { netlimit.Reject(c, "* BYE [UNAVAILABLE]", why) }
