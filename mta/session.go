package mta

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/authlimit"
	"petrel/dnsbl"
	"petrel/filter"
	"petrel/msgtext"
	"petrel/srs"
	"petrel/store"
)

// session is one SMTP connection's state between HELO and QUIT.
type session struct {
	m    *MTA
	kind kind
	conn connState

	remoteIP net.IP
	rdns     string // reverse name, "" until looked up
	account  *store.Account
	// esmtp says the client greeted with EHLO, not HELO (RFC 3848's
	// "SMTP" or "ESMTP" in Received), set by conn.go at each greeting. A
	// new session begins after STARTTLS, whose EHLO is noted again.
	esmtp    bool
	authMech string        // the SASL mechanism account logged in with
	rep      *dnsbl.Result // what the DNS lists say of the client, nil until asked
	// fs is the content filters' session of the connection (the conn's,
	// kept across STARTTLS); nil without filters for this port.
	fs *filter.Session

	// The transaction in progress.
	txID    string // its queue ID, given at MAIL
	from    string
	hasFrom bool
	local   []localRcpt
	remote  []string
	started time.Time
	size    int64 // the SIZE declared at MAIL (RFC 1870), 0 if none
	// What was refused in it, for its log line when it ends without DATA.
	refused   []string
	lastCode  int
	lastReply string
	logged    bool // its line is written (DATA was answered)

	errors int
}

type localRcpt struct {
	addr    string            // as the client gave it, for Received "for" and Delivered-To
	account *store.Account    // a plain account (or its +tag form); else:
	res     *store.Resolution // an alias, a catch-all, a list or a list's bounce address
	srs     string            // an SRS address of ours: the address it decodes to
	// role: a postmaster@ or abuse@ address that account takes as the
	// postmaster; one copy for all of them and the account itself.
	role bool
}

func newSession(m *MTA, k kind, c connState) *session {
	s := &session{m: m, kind: k, conn: c}
	if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		s.remoteIP = ta.IP
	}
	return s
}

// connState is what a session asks of its connection (conn.go's conn).
type connState interface {
	Hostname() string // the HELO/EHLO argument
	TLSConnectionState() (tls.ConnectionState, bool)
	Conn() net.Conn
}

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *session) isLoopback() bool {
	return s.remoteIP != nil && s.remoteIP.IsLoopback()
}

// fail counts an error reply; past MaxErrors the connection is closed
// once the reply is written (RFC 5321 leaves the number open;
// Postfix's smtpd_hard_error_limit is 20).
func (s *session) fail(err *smtp.SMTPError) error {
	s.errors++
	if s.errors > s.m.opts.MaxErrors {
		hangUp(s.conn.Conn()) // closed once this reply is written
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many errors, closing connection"}
	}
	return err
}

func smtpErr(code int, ec smtp.EnhancedCode, format string, a ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: fmt.Sprintf(format, a...)}
}

// Reset ends the transaction (RSET, a new MAIL, after DATA, QUIT or a
// dropped connection); one that never got to DATA is logged and counted
// here, so that every transaction has its line.
func (s *session) Reset() {
	if s.hasFrom && !s.logged {
		code, text, result := s.lastCode, s.lastReply, "rejected"
		if code == 0 {
			code, text, result = 0, "ended without DATA", "aborted"
		}
		s.logTransaction("", s.started, 0, code, text)
		s.count(result)
	}
	s.from, s.hasFrom = "", false
	s.local, s.remote = nil, nil
	s.refused, s.lastCode, s.lastReply, s.logged = nil, 0, "", false
	s.fs.Reset()
}

func (s *session) Logout() error {
	s.Reset()
	return nil
}

// result names the outcome of a reply code for the metrics.
func result(code int) string {
	switch {
	case code < 400:
		return "accepted"
	case code < 500:
		return "tempfail"
	}
	return "rejected"
}

// count reports a transaction's result to the metrics hook.
func (s *session) count(result string) {
	if f := s.m.opts.OnTransaction; f != nil {
		f(result)
	}
}

// refuseMail logs and counts a MAIL command that was refused: a
// transaction that never began.
func (s *session) refuseMail(from string, err *smtp.SMTPError) error {
	s.from = from
	s.logTransaction("", time.Now(), 0, err.Code, err.Message)
	s.from = ""
	s.count(result(err.Code))
	return s.fail(err)
}

// refuseRcpt notes a refused recipient for the transaction's log line.
func (s *session) refuseRcpt(to string, err *smtp.SMTPError) error {
	s.refused = append(s.refused, to)
	s.lastCode, s.lastReply = err.Code, err.Message
	return s.fail(err)
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if e := s.cutShort(); e != nil {
		return e
	}
	if s.hasFrom {
		// RFC 5321 4.1.4: MAIL inside a transaction is out of sequence;
		// the transaction goes on (RSET ends it).
		return s.fail(smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Nested MAIL command: a transaction is in progress (RSET ends it)"))
	}
	s.Reset()
	if s.kind == kindSubmission && s.account == nil {
		return s.refuseMail(from, smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required"))
	}
	if from != "" {
		if _, _, err := splitAddress(from); err != nil {
			return s.refuseMail(from, smtpErr(553, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax: %v", err))
		}
	}
	if s.kind == kindSubmission && !s.mayUseSender(from) {
		return s.refuseMail(from, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Sender address <%s> is not yours; send as <%s>", from, s.account.Address))
	}
	if opts != nil && opts.Size > s.m.opts.MaxMessageBytes {
		return s.refuseMail(from, smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "Message too big for system"))
	}
	s.txID = newID()
	prev := s.from
	s.from = from
	if e := s.filterMail(); e != nil {
		s.from = prev
		return s.refuseMail(from, e)
	}
	s.from, s.hasFrom = from, true
	s.size = 0
	if opts != nil {
		s.size = opts.Size
	}
	s.started = time.Now()
	return nil
}

// mayUseSender is the anti-spoofing rule of submission (see
// MTA.mayUseSender).
func (s *session) mayUseSender(from string) bool {
	return s.m.mayUseSender(s.account, from)
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if e := s.cutShort(); e != nil {
		return e
	}
	if !s.hasFrom {
		return s.fail(smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Need MAIL before RCPT"))
	}
	local, domain, err := splitAddress(to)
	if err != nil {
		return s.refuseRcpt(to, smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax: %v", err))
	}
	if r := s.reputation(); r.Listed() && s.m.opts.Reputation.Action() == dnsbl.RefuseRcpt && !isPostmaster(local) {
		s.m.repVerdict(s.txID, s.remoteIP, "refused-rcpt", r)
		return s.refuseRcpt(to, refusedHost(s.remoteIP, r))
	}
	if len(local) > maxLocalPart && !(s.m.opts.SRS != nil && srs.IsSRS(local) && s.m.opts.IsLocalDomain(domain)) {
		// SMTP can never deliver there; SRS addresses of ours, which
		// carry a whole address, may be longer (we made them).
		return s.refuseRcpt(to, smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address: its local part is %d octets, over SMTP's %d (RFC 5321 4.5.3.1.1)", len(local), maxLocalPart))
	}
	if domain == "" || s.m.opts.IsLocalDomain(domain) {
		var lr localRcpt
		var e *smtp.SMTPError
		if domain == "" {
			// "postmaster" alone (splitAddress allows no other): ours.
			lr, e = s.m.lookupPostmaster(to)
		} else {
			lr, e = s.m.lookupLocal(to, strings.ToLower(local+"@"+domain))
		}
		if e != nil && e.Code < 500 {
			s.refused = append(s.refused, to)
			s.lastCode, s.lastReply = e.Code, e.Message
			return e
		}
		if e != nil {
			return s.refuseRcpt(to, e)
		}
		if e := s.m.quotaAtRcpt(lr, s.size); e != nil {
			if e.Code < 500 {
				s.refused = append(s.refused, to)
				s.lastCode, s.lastReply = e.Code, e.Message
				return e
			}
			return s.refuseRcpt(to, e)
		}
		if e := s.filterRcpt(to, true); e != nil {
			return s.refuseRcpt(to, e)
		}
		s.local = append(s.local, lr)
		return nil
	}
	// Not ours: relay only for an authenticated user.
	if s.account == nil {
		return s.refuseRcpt(to, smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "<%s>: Relay access denied", to))
	}
	if s.m.opts.Queue == nil {
		return s.refuseRcpt(to, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: this server does not send mail to other domains", to))
	}
	if e := s.filterRcpt(to, false); e != nil {
		return s.refuseRcpt(to, e)
	}
	s.remote = append(s.remote, to)
	return nil
}

// maxLocalPart is the longest local part of a recipient, in octets (RFC
// 5321 4.5.3.1.1).
const maxLocalPart = 64

// splitAddress splits an addr-spec into local part and domain (lower-cased,
// trailing dot removed). Addresses that smuggle a second route (more than
// one unquoted '@') are refused; '%' and '!' stay in the local part, where
// they match no account, so neither relays.
func splitAddress(addr string) (local, domain string, err error) {
	if len(addr) > 320 {
		return "", "", errors.New("address too long")
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		// RFC 5321 4.5.1: "postmaster" alone is a local address.
		if strings.EqualFold(addr, "postmaster") {
			return "postmaster", "", nil
		}
		return "", "", errors.New("want local@domain")
	}
	local, domain = addr[:at], strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
	if !strings.HasPrefix(local, `"`) && strings.Contains(local, "@") {
		return "", "", errors.New("more than one @")
	}
	if domain == "" {
		return "", "", errors.New("empty domain")
	}
	if !utf8.ValidString(addr) || strings.ContainsFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", "", errors.New("control character or invalid UTF-8")
	}
	if strings.HasPrefix(domain, "[") {
		if !strings.HasSuffix(domain, "]") {
			return "", "", errors.New("unterminated address literal")
		}
	} else if domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return "", "", errors.New("empty label in domain")
	}
	return local, domain, nil
}

func (s *session) Data(r io.Reader) error {
	if e := s.cutShort(); e != nil {
		return e
	}
	if !s.hasFrom || len(s.local)+len(s.remote) == 0 {
		return s.fail(smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "Need RCPT before DATA"))
	}
	id := s.txID
	start := s.started
	s.logged = true // this transaction's line is written below, whatever happens
	sp := s.m.newSpool()
	defer sp.release()
	// BDAT's chunks come through conn.go's pipe, read by the command loop
	// under its own deadlines; DATA is read here, a deadline per chunk.
	_, bdat := r.(bdatMessage)
	body := r
	if !bdat {
		body = &deadlineReader{r: r, conn: s.conn.Conn(), timeout: s.m.opts.DataTimeout}
	}
	err := readMessage(body, s.m.opts.MaxMessageBytes, sp)
	var msg []byte
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.m.opts.DataTimeout)
		msg, err = sp.bytes(ctx)
		cancel()
		if errors.Is(err, errBusy) {
			err = smtpErr(451, smtp.EnhancedCode{4, 3, 1}, "Too much mail coming in at once, try again later")
		}
	}
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			se = smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Error reading message, try again")
		}
		if se == errBareLFReply && !bdat {
			// Where the data ends is not known: say so now and hang up,
			// rather than wait for a CRLF.CRLF that may never come.
			hangUp(s.conn.Conn())
		}
		if errors.Is(err, errBDATAborted) {
			// RSET (or the session's end) before BDAT's LAST: the client
			// gave the message up, as one that ends before DATA.
			s.logTransaction(id, start, 0, 0, "ended before BDAT LAST")
			s.count("aborted")
			return se
		}
		s.logTransaction(id, start, 0, se.Code, err.Error())
		s.count(result(se.Code))
		return se
	}
	reply := s.accept(id, msg)
	s.logTransaction(id, start, len(msg), reply.Code, reply.Message)
	s.count(result(reply.Code))
	if reply.Code >= 400 {
		return s.fail(reply)
	}
	// A 250 "error": go-smtp writes it as the reply, which thus names the
	// message's id (a nil error would say only "OK: queued").
	return reply
}

// accept checks, stores and queues one message. It returns the reply.
func (s *session) accept(id string, msg []byte) *smtp.SMTPError {
	ctx, cancel := context.WithTimeout(context.Background(), s.m.opts.DataTimeout)
	defer cancel()
	if n := msgtext.CountReceived(msg); n > msgtext.MaxHops {
		return smtpErr(554, smtp.EnhancedCode{5, 4, 6}, "Too many hops (%d Received headers): mail loop?", n)
	}
	var authHeader []byte
	junk, noForward, noBounce := false, false, false
	if s.kind == kindMX && s.m.opts.Checker != nil {
		var domains []string
		for _, lr := range s.local {
			if _, d, err := splitAddress(lr.addr); err == nil && d != "" && !slices.Contains(domains, d) {
				domains = append(domains, d)
			}
		}
		res, err := s.m.opts.Checker.Check(ctx, CheckInput{RemoteIP: s.remoteIP, Helo: s.conn.Hostname(), MailFrom: s.from, Message: msg, RcptDomains: domains})
		if err != nil {
			s.m.log.Warn("message check failed", "id", id, "err", err)
		} else {
			if res.Reject {
				return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "%s", res.Reason)
			}
			if res.Message != nil {
				msg = res.Message
			}
			authHeader, junk, noForward, noBounce = res.Header, res.Junk, res.NoForward, res.NoBounce
		}
	}
	if r := s.reputation(); r != nil && len(r.Listings) > 0 {
		// What the lists said goes with the message; with action
		// "score", a listed host's mail is filed as junk.
		authHeader = append(authHeader, "X-Petrel-DNSBL: "+r.Summary()+"\r\n"...)
		if r.Listed() && s.m.opts.Reputation.Action() == dnsbl.Score {
			junk = true
			s.m.repVerdict(id, s.remoteIP, "junk", r)
		}
	}
	if s.kind == kindSubmission {
		msg = completeHeader(msg, s.m.opts.Hostname, s.m.opts.Now())
	}
	// The content filters ([[filter]]): their verdict comes before
	// anything is written, and the message they leave is what is signed
	// and delivered.
	f := s.runFilters(ctx, id, msg)
	if f.reply != nil {
		return f.reply
	}
	msg = f.msg
	if f.quarantine {
		junk = true
	}
	if s.kind == kindSubmission && s.m.opts.Signer != nil {
		if _, domain, err := splitAddress(f.from); err == nil {
			signed, err := s.m.opts.Signer.Sign(domain, msg)
			if err != nil {
				s.m.log.Error("dkim sign", "id", id, "domain", domain, "err", err)
			} else {
				msg = signed
			}
		}
	}
	in := &inbound{id: id, from: f.from, msg: msg, rcv: s.receivedInfo(id), authHeader: authHeader,
		junk: junk, noForward: noForward, noBounce: noBounce || noForward, local: f.local, remote: f.remote, now: s.m.opts.Now()}
	if s.kind == kindSubmission && s.m.opts.SaveSent && s.account != nil {
		in.sent = s.account
	}
	if s.kind == kindSubmission && s.account != nil && s.m.opts.Junk != nil {
		in.sender = s.account
	}
	return s.m.dispatch(ctx, in)
}

func (s *session) receivedInfo(id string) *received {
	r := &received{
		helo:     s.conn.Hostname(),
		ip:       s.remoteIP,
		rdns:     s.reverseName(),
		by:       s.m.opts.Hostname,
		id:       id,
		esmtp:    s.esmtp,
		auth:     s.account != nil,
		tlsState: nil,
	}
	if st, ok := s.conn.TLSConnectionState(); ok {
		r.tlsState = &st
	}
	return r
}

// reverseName looks up (once per session) the client's reverse DNS name.
func (s *session) reverseName() string {
	if s.rdns != "" {
		return s.rdns
	}
	s.rdns = "unknown"
	switch {
	case s.remoteIP == nil:
	case s.remoteIP.IsLoopback():
		s.rdns = "localhost"
	case s.m.opts.Resolver != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if names, err := s.m.opts.Resolver.LookupAddr(ctx, s.remoteIP.String()); err == nil && len(names) > 0 {
			s.rdns = strings.TrimSuffix(names[0], ".")
		}
	}
	return s.rdns
}

// logTransaction writes the one log line per SMTP transaction.
func (s *session) logTransaction(id string, start time.Time, size, code int, text string) {
	var tlsv string
	if st, ok := s.conn.TLSConnectionState(); ok {
		tlsv = tls.VersionName(st.Version)
	}
	user := ""
	if s.account != nil {
		user = s.account.Address
	}
	rcpts := make([]string, 0, len(s.local)+len(s.remote))
	for _, l := range s.local {
		rcpts = append(rcpts, l.addr)
	}
	rcpts = append(rcpts, s.remote...)
	level := 0 // info
	if code >= 400 {
		level = 4 // warn
	}
	s.m.log.Log(context.Background(), slogLevel(level), "smtp transaction",
		"id", id, "listener", s.kind.String(), "client", s.remoteIP.String(), "helo", s.conn.Hostname(),
		"tls", tlsv, "user", user, "from", s.from, "rcpts", rcpts, "refused", s.refused, "size", size,
		"code", code, "reply", text, "ms", time.Since(start).Milliseconds())
}

func newID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms is asked on every EHLO (conn.go); port 25 offers no AUTH.
func (s *session) AuthMechanisms() []string {
	s.esmtp = true
	return nil
}

// Auth refuses AUTH on port 25: it is for mail from other servers.
func (s *session) Auth(mech string) (sasl.Server, error) {
	return nil, smtp.ErrAuthUnsupported
}

// submissionSession adds AUTH to a session (ports 587 and 465).
type submissionSession struct {
	*session
}

var _ smtp.AuthSession = (*submissionSession)(nil)

// AuthMechanisms offers PLAIN and LOGIN only over TLS, or from loopback:
// never a password in clear text over the network.
func (s *submissionSession) AuthMechanisms() []string {
	s.esmtp = true
	if s.isTLS() || s.isLoopback() {
		return []string{sasl.Plain, sasl.Login}
	}
	return nil
}

func (s *submissionSession) Auth(mech string) (sasl.Server, error) {
	if !s.isTLS() && !s.isLoopback() {
		return nil, smtpErr(538, smtp.EnhancedCode{5, 7, 11}, "Encryption required: STARTTLS first")
	}
	check := func(username, password string) error {
		if e := s.cutShort(); e != nil {
			return e
		}
		ip := s.remoteIP.String()
		lim := s.m.opts.AuthLimiter
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		end, err := lim.Begin(ctx, ip, username)
		if err != nil {
			return smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "Too many failed logins from your address, try again later")
		}
		acct, err := s.m.opts.Store.Authenticate(username, password)
		if errors.Is(err, store.ErrBusy) {
			end(authlimit.Undecided)
			return smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "Too many logins being checked now, try again later")
		}
		if err != nil {
			end(authlimit.Failed)
			if f := s.m.opts.OnAuthFailure; f != nil {
				f()
			}
			s.m.log.Warn("auth failed", "listener", s.kind.String(), "client", ip, "user", username)
			return s.fail(smtp.ErrAuthFailed)
		}
		end(authlimit.Succeeded)
		s.account, s.authMech = acct, strings.ToUpper(mech)
		return nil
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && !strings.EqualFold(identity, username) {
				return smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Authorization identity must match the user")
			}
			return check(username, password)
		}), nil
	case sasl.Login:
		return newLoginServer(check), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *submissionSession) Mail(from string, opts *smtp.MailOptions) error {
	return s.session.Mail(from, opts)
}
