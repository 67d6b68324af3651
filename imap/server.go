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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"petrel/authlimit"
	"petrel/internal/quickack"
	"petrel/netlimit"
	"petrel/store"
)

// Options configure a Server. Store is required.
type Options struct {
	Store  *store.Store
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

// caps is what Petrel advertises; each capability is backed by the session
// methods that serve it (see the interface assertions in session.go).
var caps = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapBinary:           {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus:      {},
	imap.CapUnauthenticate:   {},
}

// Server serves the store over IMAP on any number of listeners.
//
// Whether plaintext LOGIN is allowed is decided per connection: TLS
// connections and connections from loopback may log in; others are shown
// LOGINDISABLED and STARTTLS. go-imap decides this per server
// (Options.InsecureAuth), so Server runs two imapserver.Servers, one for
// each policy, and hands every accepted connection to the right one.
type Server struct {
	opts Options
	log  *slog.Logger

	secure, loopback   *imapserver.Server
	secureL, loopbackL *chanListener

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	closed    bool
	sessions  sync.WaitGroup

	mboxMu    sync.Mutex
	mailboxes map[store.MailboxID]*mailbox // open mailboxes, reference-counted

	headerCaches *headerCaches // SEARCH's, kept while mailboxes close

	corkBufs sync.Pool // output buffers lent to busy connections (corkConn)
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
		headerCaches: newHeaderCaches(defaultCacheBudget),
		secureL:      newChanListener(),
		loopbackL:    newChanListener(),
	}
	mk := func(insecure bool) *imapserver.Server {
		return imapserver.New(&imapserver.Options{
			NewSession:   s.newSession,
			Caps:         caps,
			Logger:       slogPrintf{s.log},
			TLSConfig:    opts.TLSConfig,
			InsecureAuth: insecure,
		})
	}
	s.secure, s.loopback = mk(false), mk(true)
	go s.secure.Serve(s.secureL)
	go s.loopback.Serve(s.loopbackL)
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
	s.mu.Unlock()
	s.secure.Close()
	s.loopback.Close()
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

// newSession is imapserver's NewSession hook.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	sess := &session{srv: s, conn: c, ctx: context.Background()}
	sess.log = s.log.With("remote", c.NetConn().RemoteAddr().String())
	sess.timerLog = sess.log
	sess.timer = time.AfterFunc(s.opts.AutoLogout, sess.autoLogout)
	return sess, nil, nil
}

// slogPrintf adapts slog to imapserver.Logger. go-imap logs only failures
// (a command's internal error, a panic), never command arguments.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Warn(fmt.Sprintf(format, args...))
}
