package imap

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"petrel/authlimit"
	"petrel/store"
)

// Commands of any state and of the not-authenticated state (RFC 9051 6.1,
// 6.2), ENABLE, NAMESPACE, ID and IDLE.

const idleTimeout = 35 * time.Minute // RFC 2177 clients renew every 29 minutes

func (s *session) cmdCapability(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	s.e.raw("* CAPABILITY ").raw(strings.Join(s.caps(), " ")).crlf()
	return nil
}

func (s *session) cmdNoop(c *cmd) error { return c.p.crlf() }

func (s *session) cmdLogout(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	s.e.raw("* BYE Logging out").crlf()
	s.e.status(c.tag, &imap.StatusResponse{Type: imap.StatusResponseTypeOK, Text: "LOGOUT completed"})
	s.state = stateLogout
	return errReplied
}

// cmdID answers RFC 2971's ID with the server's name; what the client
// says of itself is logged.
func (s *session) cmdID(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	var params []string
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' {
		err := p.list(true, func() error {
			v, err := p.nstring()
			if err == nil && len(params) < 60 {
				params = append(params, v)
			}
			return err
		})
		if err != nil {
			return err
		}
	} else if a, err := p.atom(); err != nil {
		return err
	} else if !strings.EqualFold(a, "NIL") {
		return badSyntax("Expected NIL or a list")
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if len(params) > 0 {
		s.log.Info("client id", "id", strings.Join(params, " "))
	}
	s.e.raw(`* ID ("name" "Petrel")`).crlf()
	return nil
}

func (s *session) cmdStartTLS(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	if s.isTLS || s.srv.opts.TLSConfig == nil || s.compressed() {
		return no("", "TLS not available")
	}
	if s.br.Buffered() > 0 {
		// RFC 9051 6.2.1: nothing may follow STARTTLS before the handshake
		// (else plaintext could be injected into the TLS session).
		return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Data after STARTTLS"}
	}
	s.e.status(c.tag, &imap.StatusResponse{Type: imap.StatusResponseTypeOK, Text: "Begin TLS negotiation now"})
	if err := s.bw.Flush(); err != nil {
		return err
	}
	tc := tls.Server(s.nc, s.srv.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(cmdReadTimeout))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return &net.OpError{Op: "starttls", Err: err}
	}
	tc.SetDeadline(time.Time{})
	s.nc = tc
	s.isTLS = true
	return errReplied
}

func (s *session) canAuth() bool { return s.isTLS || s.insecure }

func (s *session) cmdLogin(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	user, err := p.astring()
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	pass, err := p.astring()
	if err != nil {
		return err
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if !s.canAuth() {
		return no(imap.ResponseCodePrivacyRequired, "TLS is required to log in")
	}
	if err := s.login(user, pass); err != nil {
		return err
	}
	return s.loggedIn(c)
}

// loggedIn writes the tagged OK of a login with the new capabilities.
func (s *session) loggedIn(c *cmd) error {
	s.e.raw(c.tag).raw(" OK [CAPABILITY ").raw(strings.Join(s.caps(), " ")).raw("] Logged in").crlf()
	return errReplied
}

var errAuthFailed = no(imap.ResponseCodeAuthenticationFailed, "Authentication failed")

// login checks a password against the store. The password is never logged.
func (s *session) login(username, password string) error {
	s.touch()
	lim, ip := s.srv.opts.AuthLimiter, remoteIP(s.nc.RemoteAddr())
	end := func(authlimit.Outcome) {}
	if lim != nil {
		var err error
		if end, err = lim.Begin(s.ctx, ip, username); err != nil {
			s.log.Info("login refused", "user", username, "err", err)
			return no(imap.ResponseCodeUnavailable, "Too many failed logins from your address, try again later")
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
		return errAuthFailed
	case errors.Is(err, store.ErrBusy):
		end(authlimit.Undecided)
		s.log.Info("login shed: too many being checked", "user", username)
		return no(imap.ResponseCodeUnavailable, "Too many logins being checked now, try again later")
	case err != nil:
		end(authlimit.Undecided)
		return clientError(err, "login")
	}
	end(authlimit.Succeeded)
	s.acct = acct
	s.state = stateAuth
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

// cmdAuthenticate serves SASL PLAIN (RFC 9051 6.2.2) with an initial
// response (SASL-IR, RFC 4959) or after a continuation request.
func (s *session) cmdAuthenticate(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	mech, err := p.atom()
	if err != nil {
		return err
	}
	var resp []byte
	if ok, err := p.accept(' '); err != nil {
		return err
	} else if ok {
		ir, err := p.word(func(c byte) bool { return isAtomChar(c) || c == '=' }, "initial response")
		if err != nil {
			return err
		}
		if ir != "=" {
			if resp, err = base64.StdEncoding.DecodeString(ir); err != nil {
				return badSyntax("Initial response is not base64")
			}
		} else {
			resp = []byte{}
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, sasl.Plain) {
		return no("", "Unsupported SASL mechanism")
	}
	if !s.canAuth() {
		return no(imap.ResponseCodePrivacyRequired, "TLS is required to log in")
	}
	var loginErr error
	srv := sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			loginErr = no(imap.ResponseCodeAuthorizationFailed, "Acting as another user is not supported")
			return loginErr
		}
		loginErr = s.login(username, password)
		return loginErr
	})
	for {
		chal, done, err := srv.Next(resp)
		if err != nil {
			if loginErr != nil {
				return loginErr
			}
			return no(imap.ResponseCodeAuthenticationFailed, "Authentication failed: bad PLAIN response")
		}
		if done {
			break
		}
		if err := s.cont(base64.StdEncoding.EncodeToString(chal)); err != nil {
			return err
		}
		line, err := s.readLine(8192)
		if err != nil {
			return err
		}
		if line == "*" {
			return bad("AUTHENTICATE cancelled")
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return bad("Response is not base64")
		}
	}
	return s.loggedIn(c)
}

// readLine reads a line of at most max octets (an AUTHENTICATE response,
// IDLE's DONE) without its line end.
func (s *session) readLine(max int) (string, error) {
	var b []byte
	for {
		part, err := s.br.ReadSlice('\n')
		b = append(b, part...)
		if len(b) > max {
			return "", errTooLong
		}
		if err == nil {
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

func (s *session) cmdUnauthenticate(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	s.unselect()
	s.stopNotify() // NOTIFY was the account's
	s.acct = nil
	s.state = stateNotAuth
	s.log = s.srv.log.With("remote", s.nc.RemoteAddr().String())
	return nil
}

// cmdEnable turns on IMAP4rev2 and UTF8=ACCEPT (RFC 5161).
func (s *session) cmdEnable(c *cmd) error {
	p := c.p
	var enabled []string
	for {
		if err := p.sp(); err != nil {
			return err
		}
		a, err := p.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2, s.e.utf8 = true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "QRESYNC":
			if !s.qresync {
				s.qresync, s.condstore = true, true
				enabled = append(enabled, "QRESYNC")
			}
		case "CONDSTORE":
			if !s.condstore {
				s.condstore = true
				enabled = append(enabled, "CONDSTORE")
			}
		case "UTF8=ACCEPT":
			if !s.utf8Accept {
				s.utf8Accept, s.e.utf8 = true, true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		}
		if p.atEnd() {
			break
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	s.e.raw("* ENABLED")
	for _, e := range enabled {
		s.e.sp().raw(e)
	}
	s.e.crlf()
	return nil
}

func (s *session) cmdNamespace(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	s.e.raw(`* NAMESPACE (("" "`).raw(string(store.Separator)).raw(`")) NIL NIL`).crlf()
	return nil
}

// cmdIdle reports changes as they are committed until the client says
// DONE (RFC 2177). With no mailbox selected there is nothing to report,
// but the command still waits for DONE.
//
// A client in IDLE is not idle: the autologout clock stops until DONE and
// starts again then. A client that neither renews nor ends its IDLE in 35
// minutes is disconnected.
func (s *session) cmdIdle(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	s.timer.Stop()
	v := s.view
	if v != nil {
		v.wake.take() // this poll reports what came so far
		if err := s.pollView(true); err != nil {
			s.touch()
			return err
		}
	}
	if err := s.cont("idling"); err != nil {
		s.touch()
		return err
	}
	s.nc.SetReadDeadline(time.Now().Add(idleTimeout))
	if s.ending.Load() != 0 {
		s.nc.SetReadDeadline(time.Now())
	}
	var a awaiting
	if v != nil {
		a.w1 = waker{&v.wake, func() error { return s.pollView(true) }}
	}
	if s.notify != nil {
		// NOTIFY's other mailboxes (cmd_notify.go)
		a.w2 = waker{&s.notify.wake, func() error { return s.notifyReport(true, true) }}
	}
	a.then = func(err error) error {
		err = s.idleDone(c, err)
		s.touch()
		return s.afterCommand(s.reply(c, err))
	}
	s.awaiting = a
	return errAwait
}

// idleDone reads IDLE's DONE once input came.
func (s *session) idleDone(c *cmd, err error) error {
	if err != nil {
		return err
	}
	c.p.br = s.br // the session's reader is another since awaitInput
	line, err := s.readLine(1024)
	if err != nil {
		return err
	}
	if !strings.EqualFold(line, "DONE") {
		return bad("Expected DONE")
	}
	return nil
}
