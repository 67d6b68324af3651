package imap

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"petrel/authlimit"
	"petrel/store"
)

// session is one IMAP connection. imapserver calls its methods from the
// connection's goroutine, one command at a time (IDLE included).
type session struct {
	srv  *Server
	conn *imapserver.Conn
	ctx  context.Context
	log  *slog.Logger

	timer   *time.Timer // autologout
	timerMu sync.Mutex  // guards closed and timerLog
	closed  bool        // a late touch must not rearm timer
	// timerLog is log as of the last touch, for autoLogout, which runs on
	// the timer's goroutine and so must not read log itself.
	timerLog *slog.Logger
	once     sync.Once

	acct *store.Account
	view *view // selected mailbox, or nil
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionSASL           = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
	_ imapserver.SessionNamespace      = (*session)(nil)
	_ imapserver.SessionMove           = (*session)(nil)
)

// touch restarts the autologout timer: the client did something.
func (s *session) touch() {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	if !s.closed {
		s.timerLog = s.log
		s.timer.Reset(s.srv.opts.AutoLogout)
	}
}

func (s *session) autoLogout() {
	s.timerMu.Lock()
	closed, log := s.closed, s.timerLog
	s.timerMu.Unlock()
	if closed {
		return
	}
	log.Info("autologout", "after", s.srv.opts.AutoLogout)
	s.conn.Bye("Autologout; idle for too long")
}

func (s *session) Close() error {
	s.once.Do(func() {
		s.timerMu.Lock()
		s.closed = true
		s.timer.Stop()
		s.timerMu.Unlock()
		if s.view != nil {
			s.view.close()
			s.view = nil
		}
		s.srv.sessions.Done()
	})
	return nil
}

// Login checks a password against the store. The password is never logged.
func (s *session) Login(username, password string) error {
	s.touch()
	lim, ip := s.srv.opts.AuthLimiter, remoteIP(s.conn.NetConn().RemoteAddr())
	end := func(authlimit.Outcome) {}
	if lim != nil {
		var err error
		if end, err = lim.Begin(s.ctx, ip, username); err != nil {
			s.log.Info("login refused", "user", username, "err", err)
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Too many failed logins from your address, try again later"}
		}
	}
	acct, err := s.srv.opts.Store.Authenticate(username, password)
	switch {
	case errors.Is(err, store.ErrAuthFailed):
		end(authlimit.Failed)
		s.log.Info("login failed", "user", username)
		if f := s.srv.opts.OnAuthFailure; f != nil {
			f()
		}
		return imapserver.ErrAuthFailed
	case errors.Is(err, store.ErrBusy):
		end(authlimit.Undecided)
		s.log.Info("login shed: too many being checked", "user", username)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Too many logins being checked now, try again later"}
	case err != nil:
		end(authlimit.Undecided)
		return err
	}
	end(authlimit.Succeeded)
	s.acct = acct
	s.log = s.log.With("user", acct.Address)
	s.log.Info("login")
	s.touch() // so an autologout is logged with the user
	return nil
}

// remoteIP is the client's address without the port, as AuthLimiter keys it.
func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

func (s *session) AuthenticateMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported SASL mechanism"}
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "Acting as another user is not supported"}
		}
		return s.Login(username, password)
	}), nil
}

func (s *session) Unauthenticate() error {
	s.touch()
	s.unselect()
	s.acct = nil
	return nil
}

// AppendLimit is both what go-imap advertises as APPENDLIMIT=n and what
// its APPEND handler checks a literal's size against before calling
// Append. That check refuses without reading the literal, which is right
// for a synchronising literal but not for a LITERAL+ one, whose octets the
// client has already sent: go-imap would then read them as commands (RFC
// 7888 3 says they are the literal), so a message over the limit whose
// text holds a line like "Subject: DELETE Work" would delete Work.
//
// So to the APPEND handler AppendLimit says "no limit" and Append refuses
// a message over the limit itself, with NO [TOOBIG], after which go-imap
// reads and discards the literal: the connection stays in step. The cost:
// a client that ignores APPENDLIMIT and sends a synchronising literal over
// it is answered "+" and sends the octets before being refused. A literal
// over 4 GiB (math.MaxUint32, the most AppendLimit can say) is still
// refused by go-imap unread, with the old consequence for a LITERAL+ one.
func (s *session) AppendLimit() uint32 {
	if calledByAppendHandler() {
		return math.MaxUint32
	}
	return s.srv.opts.AppendLimit
}

// calledByAppendHandler reports whether AppendLimit's caller is go-imap's
// APPEND handler rather than its capability list. TestAppendLimit and
// TestAppendLimitNonSyncLiteral notice if a go-imap upgrade renames it.
func calledByAppendHandler() bool {
	var pcs [8]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "petrel/imap.") {
			return strings.HasSuffix(f.Function, "/imapserver.(*Conn).handleAppend")
		}
		if !more {
			return false
		}
	}
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	s.touch()
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: store.Separator}}}, nil
}

func (s *session) unselect() {
	if s.view != nil {
		s.view.close()
		s.view = nil
	}
}

func (s *session) Unselect() error {
	s.touch()
	s.unselect()
	return nil
}

// Poll runs after every successful command.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	s.touch()
	if s.view == nil {
		return nil
	}
	return s.view.poll(w, allowExpunge)
}

// Idle reports changes as they are committed until the client says DONE.
// With no mailbox selected there is nothing to report, but the command
// still waits for DONE.
//
// A client in IDLE is not idle: the autologout clock stops until DONE and
// starts again then. Clients renew IDLE every 29 minutes at most (RFC
// 2177); for one that does not, go-imap ends the IDLE after 35 minutes
// without DONE (its read deadline), and the clock runs again.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.timer.Stop()
	defer s.touch()
	v := s.view
	if v == nil {
		<-stop
		return nil
	}
	if err := v.poll(w, true); err != nil {
		return err
	}
	for {
		select {
		case <-v.wake:
			if err := v.poll(w, true); err != nil {
				return err
			}
		case <-stop:
			return nil
		}
	}
}

// writeCtx marks the session's writes so their flag changes are not echoed
// back to it.
func (s *session) writeCtx() context.Context {
	if s.view == nil {
		return s.ctx
	}
	return store.WithOrigin(s.ctx, s.view)
}

func (s *session) selected() (*view, error) {
	if s.view == nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "No mailbox selected"}
	}
	return s.view, nil
}

func (s *session) writable() (*view, error) {
	v, err := s.selected()
	if err != nil {
		return nil, err
	}
	if v.readOnly {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only (EXAMINE)"}
	}
	return v, nil
}
