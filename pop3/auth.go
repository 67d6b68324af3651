package pop3

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"petrel/authlimit"
	"petrel/store"
)

// plaintextAllowed says whether a password may be sent on this connection:
// over TLS, or from loopback where nothing is on the wire (RFC 2595
// section 2.2 lets a server refuse plaintext logins otherwise).
func (c *session) plaintextAllowed() bool {
	return c.isTLS || c.local
}

const plaintextRefused = "-ERR [AUTH] plaintext login needs TLS first (STLS or port 995)"

// cmdUser takes the name for PASS (RFC 1939 section 7).
func (c *session) cmdUser(cmd command) error {
	if !c.plaintextAllowed() {
		return c.reply(plaintextRefused)
	}
	if len(cmd.Args) != 1 {
		return c.reply("-ERR usage: USER name")
	}
	c.user = cmd.Args[0]
	return c.reply("+OK send PASS")
}

// cmdPass checks the password for USER's name. The password is the rest
// of the line, spaces included (RFC 1939 section 7, PASS notes).
func (c *session) cmdPass(cmd command) error {
	if !c.plaintextAllowed() {
		return c.reply(plaintextRefused)
	}
	if c.user == "" {
		return c.reply("-ERR USER first")
	}
	if cmd.Rest == "" {
		return c.reply("-ERR usage: PASS password")
	}
	user := c.user
	c.user = ""
	return c.login(user, cmd.Rest)
}

// cmdAuth runs SASL PLAIN (RFC 5034, RFC 4616), with or without an
// initial response. AUTH alone lists the mechanisms, as clients probe it.
func (c *session) cmdAuth(cmd command) error {
	if len(cmd.Args) == 0 {
		return c.multiline("SASL mechanisms follow", []string{"PLAIN"})
	}
	if len(cmd.Args) > 2 {
		return c.reply("-ERR usage: AUTH mechanism [initial-response]")
	}
	if !strings.EqualFold(cmd.Args[0], "PLAIN") {
		return c.reply("-ERR unsupported SASL mechanism (PLAIN is)")
	}
	if !c.plaintextAllowed() {
		return c.reply(plaintextRefused)
	}
	c.user = ""
	var resp string
	if len(cmd.Args) == 2 {
		resp = cmd.Args[1]
	} else {
		if err := c.reply("+ "); err != nil {
			return err
		}
		line, err := c.readLine()
		if errors.Is(err, errLineTooLong) {
			return c.reply("-ERR [AUTH] response too long")
		}
		if err != nil {
			return fmt.Errorf("read SASL response: %w", err)
		}
		if line == "*" {
			return c.reply("-ERR authentication cancelled")
		}
		resp = line
	}
	user, pass, err := decodePlain(resp)
	if err != nil {
		return c.reply("-ERR [AUTH] %v", err)
	}
	return c.login(user, pass)
}

// decodePlain decodes a SASL PLAIN response: authzid NUL authcid NUL
// password, base64-encoded; "=" is an empty response (RFC 4616, RFC 5034
// section 4). Petrel has no proxy logins, so authzid must be empty or the
// authcid.
func decodePlain(resp string) (user, pass string, err error) {
	if resp == "=" {
		resp = ""
	}
	b, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", "", errors.New("invalid base64 in SASL response")
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 {
		return "", "", errors.New("malformed PLAIN response")
	}
	authz, authc, pw := parts[0], parts[1], parts[2]
	if len(authc) == 0 || len(pw) == 0 {
		return "", "", errors.New("malformed PLAIN response")
	}
	if len(authz) > 0 && !bytes.Equal(authz, authc) {
		return "", "", errors.New("authorization identity must be the user's own")
	}
	return string(authc), string(pw), nil
}

// login checks the password, locks the maildrop and enters TRANSACTION.
// Each failure on a connection waits longer than the last.
func (c *session) login(user, pass string) error {
	lim, ip := c.srv.opts.AuthLimiter, c.remoteIP()
	end := func(authlimit.Outcome) {}
	if lim != nil {
		var err error
		if end, err = lim.Begin(c.ctx, ip, user); err != nil {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			c.log.Info("pop3: login refused", "user", user, "err", err)
			return c.reply("-ERR [SYS/TEMP] too many failed logins from your address, try again later")
		}
	}
	acct, err := c.srv.opts.Store.Authenticate(user, pass)
	if errors.Is(err, store.ErrAuthFailed) {
		end(authlimit.Failed)
		if f := c.srv.opts.OnAuthFailure; f != nil {
			f()
		}
		c.failures++
		delay := time.Duration(c.failures) * c.srv.opts.LoginDelay
		c.log.Info("pop3: login failed", "user", user, "failures", c.failures, "delay", max(delay, 0))
		if err := c.pause(delay); err != nil {
			return err
		}
		if c.failures >= MaxLoginFailures {
			c.reply("-ERR [AUTH] too many failed logins")
			return errQuit
		}
		return c.reply("-ERR [AUTH] invalid user name or password")
	}
	if errors.Is(err, store.ErrBusy) {
		end(authlimit.Undecided)
		c.log.Info("pop3: login shed: too many being checked", "user", user)
		return c.reply("-ERR [SYS/TEMP] too many logins being checked now, try again later")
	}
	if err != nil {
		end(authlimit.Undecided)
		c.log.Error("pop3: login", "user", user, "err", err)
		return c.reply("-ERR [SYS/TEMP] cannot check password now")
	}
	end(authlimit.Succeeded)
	if ok, err := c.srv.lock(c.ctx, acct.ID, c); err != nil {
		c.log.Error("pop3: maildrop lock", "user", acct.Address, "err", err)
		return c.reply("-ERR [SYS/TEMP] cannot lock maildrop now, try again later")
	} else if !ok {
		c.log.Info("pop3: maildrop in use", "user", acct.Address)
		return c.reply("-ERR [IN-USE] maildrop is in use by another POP3 session")
	}
	drop, err := openMaildrop(c.srv.opts.Store, acct.ID)
	if err != nil {
		c.srv.unlock(acct.ID, c)
		c.log.Error("pop3: open maildrop", "user", acct.Address, "err", err)
		return c.reply("-ERR [SYS/TEMP] cannot open maildrop")
	}
	c.acct, c.drop, c.state = acct, drop, stateTransaction
	c.seen = newSeenMarker(c.ctx, c.srv.opts.Store, drop.mbx, c.log)
	c.log = c.log.With("user", acct.Address)
	n, size := drop.stat()
	c.log.Info("pop3: login", "messages", n, "tls", c.isTLS)
	return c.reply("+OK maildrop has %s (%d octets)", plural(n, "message"), size)
}

// remoteIP is the client's address without the port, as AuthLimiter keys it.
func (c *session) remoteIP() string {
	c.mu.Lock()
	a := c.conn.RemoteAddr()
	c.mu.Unlock()
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// pause waits d, or less if the server shuts down.
func (c *session) pause(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// cmdStls starts TLS (RFC 2595 section 4). Anything the client sent after
// STLS before the handshake is discarded, so it cannot be injected into
// the TLS session (CVE-2011-0411 class).
func (c *session) cmdStls(cmd command) error {
	if len(cmd.Args) != 0 {
		return c.reply("-ERR STLS takes no arguments")
	}
	if c.isTLS {
		return c.reply("-ERR already using TLS")
	}
	if c.srv.opts.TLSConfig == nil {
		return c.reply("-ERR STLS not available")
	}
	if err := c.reply("+OK begin TLS negotiation"); err != nil {
		return err
	}
	if err := c.w.W.Flush(); err != nil {
		return fmt.Errorf("STLS: %w", err)
	}
	c.mu.Lock()
	raw := c.conn
	c.mu.Unlock()
	tc := tls.Server(raw, c.srv.opts.TLSConfig)
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	raw.SetDeadline(time.Time{})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("STLS handshake: %w", err)
	}
	c.setConn(tc)
	c.isTLS = true
	c.user = ""
	return nil
}
