package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// target is one address to try for a destination.
type target struct {
	addr  string // host:port
	name  string // the MX host name, for TLS verification and DSNs
	relay bool   // a configured relay: AUTH if configured, TLS verified
}

// attemptInfo says, for the log line, how an attempt went.
type attemptInfo struct {
	host string
	tls  string // "verified", "unverified", "none"
	err  string // last connection-level error
}

// hostError is a failure of a whole connection, before any recipient had
// its own answer.
type hostError struct {
	outcome
	final bool // do not try the next host (the sender was refused)
}

// deliverRemote sends one message to the recipients at domain, trying the
// MX hosts (or the relay) in order, and the fallback relay when every MX
// failed temporarily.
func (q *Queue) deliverRemote(ctx context.Context, from, domain string, rcpts []string, body []byte) (map[string]outcome, attemptInfo) {
	var info attemptInfo
	var targets []target
	if q.opts.RelayHost != "" {
		targets = []target{relayTarget(q.opts.RelayHost)}
	} else {
		mxs, err := q.opts.Resolver.LookupMX(ctx, domain)
		if err != nil {
			info.err = err.Error()
			o := classify(err, "")
			if o.state == Failed {
				o.status = "5.1.2" // RFC 3463: bad destination system address
				if strings.Contains(err.Error(), "null MX") {
					o.status = "5.1.10" // RFC 7505 section 4.2
				}
			} else {
				o.status = "4.4.3" // directory server failure
			}
			o.reply = o.status + " " + err.Error()
			return all(rcpts, o), info
		}
		for _, mx := range mxs {
			for _, ip := range mx.Addrs {
				targets = append(targets, target{addr: net.JoinHostPort(ip.String(), strconv.Itoa(q.opts.Port)), name: mx.Host})
			}
		}
	}
	if q.opts.FallbackRelay != "" && q.opts.RelayHost == "" {
		targets = append(targets, relayTarget(q.opts.FallbackRelay))
	}

	var last *hostError
	allPerm := true
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		info.host = t.name
		res, tlsMode, herr := q.transaction(ctx, t, from, rcpts, body)
		info.tls = tlsMode
		if herr == nil {
			return res, info
		}
		info.err = herr.reply
		last = herr
		if herr.state != Failed {
			allPerm = false
		}
		if herr.final {
			break
		}
	}
	if last == nil {
		return all(rcpts, outcome{state: Pending, status: "4.4.1", reply: "4.4.1 no mail server to try"}), info
	}
	o := last.outcome
	if !allPerm && !last.final {
		o.state = Pending
	}
	return all(rcpts, o), info
}

func relayTarget(hostport string) target {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
		hostport = net.JoinHostPort(hostport, "25")
	}
	return target{addr: hostport, name: host, relay: true}
}

// transaction runs one SMTP transaction with t. A nil *hostError means
// every recipient has its answer in the map.
func (q *Queue) transaction(ctx context.Context, t target, from string, rcpts []string, body []byte) (map[string]outcome, string, *hostError) {
	c, conn, tlsMode, herr := q.connect(ctx, t)
	if herr != nil {
		return nil, tlsMode, herr
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	fail := func(err error, final bool) *hostError {
		o := classify(err, "")
		o.mta = t.name
		if _, _, _, ok := smtpReply(err); !ok {
			o = outcome{state: Pending, status: "4.4.2", reply: "4.4.2 " + t.name + ": " + err.Error(), mta: t.name}
		}
		return &hostError{outcome: o, final: final && o.state == Failed}
	}

	if t.relay && q.opts.RelayUser != "" {
		if tlsMode != "verified" {
			return nil, tlsMode, &hostError{outcome: outcome{state: Pending, status: "4.7.0", mta: t.name,
				reply: "4.7.0 " + t.name + ": no verified TLS, refusing to send the relay password"}}
		}
		if err := c.Auth(sasl.NewPlainClient("", q.opts.RelayUser, q.opts.RelayPassword)); err != nil {
			return nil, tlsMode, fail(fmt.Errorf("relay AUTH: %w", err), false)
		}
	}

	// RFC 6531: an address beyond ASCII can only go to an SMTPUTF8 server;
	// UTF-8 in the header asks for SMTPUTF8 when the server has it.
	hasUTF8, _ := c.Extension("SMTPUTF8")
	needUTF8 := !isASCII(from)
	for _, r := range rcpts {
		needUTF8 = needUTF8 || !isASCII(r)
	}
	if needUTF8 && !hasUTF8 {
		return nil, tlsMode, &hostError{outcome: outcome{state: Failed, status: "5.6.7", mta: t.name,
			reply: "5.6.7 " + t.name + " does not support SMTPUTF8, required by a non-ASCII address"}}
	}
	// A server without 8BITMIME gets 8-bit bytes as they are, as Postfix
	// and most MTAs do rather than downgrade a signed message.
	env := envelope{from: from, rcpts: rcpts, body: body,
		utf8: hasUTF8 && (needUTF8 || headerNeedsUTF8(body))}
	var x exchange
	if ok, _ := c.Extension("PIPELINING"); ok {
		x = pipelined(ctx, c, conn, env, q.opts.CommandTimeout, q.opts.DataTimeout)
	} else {
		x = stepwise(c, env)
	}
	if x.mail != nil {
		if _, _, _, ok := smtpReply(x.mail); !ok {
			return nil, tlsMode, fail(x.mail, false)
		}
		// A 5xx to MAIL refuses the sender: another MX would too.
		return nil, tlsMode, fail(x.mail, true)
	}
	res := make(map[string]outcome, len(rcpts))
	var accepted []string
	for i, r := range rcpts {
		if i >= len(x.rcpt) {
			return nil, tlsMode, fail(x.broken, false)
		}
		err := x.rcpt[i]
		if err == nil {
			accepted = append(accepted, r)
			continue
		}
		if _, _, _, ok := smtpReply(err); !ok {
			return nil, tlsMode, fail(err, false)
		}
		o := classify(err, "")
		o.mta = t.name
		res[r] = o
	}
	if len(accepted) == 0 {
		c.Quit()
		return res, tlsMode, nil
	}
	// The reply to DATA, else the one after the body, decides for every
	// accepted recipient.
	final := x.data
	if final == nil {
		final = x.final
	}
	if final != nil {
		if _, _, _, ok := smtpReply(final); !ok {
			// The final reply was lost: retry, accepting a possible
			// duplicate (RFC 5321 section 6.1 prefers it to a loss).
			return nil, tlsMode, fail(final, false)
		}
		o := classify(final, "")
		o.mta = t.name
		for _, r := range accepted {
			res[r] = o
		}
		return res, tlsMode, nil
	}
	ok := outcome{state: Delivered, status: "2.0.0", mta: t.name,
		reply: "250 " + oneLine(x.finalText)}
	for _, r := range accepted {
		res[r] = ok
	}
	c.Quit()
	return res, tlsMode, nil
}

// connect dials t, reads the greeting, says EHLO, and upgrades with
// STARTTLS when offered: verified if the certificate verifies, else
// unverified on a new connection (opportunistic TLS, RFC 7435); plain only
// when the server offers no STARTTLS. A configured relay gets verified TLS
// or nothing.
func (q *Queue) connect(ctx context.Context, t target) (*smtp.Client, net.Conn, string, *hostError) {
	herr := func(err error) *hostError {
		o := outcome{state: Pending, status: "4.4.1", reply: "4.4.1 " + t.name + " [" + t.addr + "]: " + err.Error(), mta: t.name}
		if code, enh, msg, ok := smtpReply(err); ok {
			o = outcome{state: Pending, status: enh, reply: fmt.Sprintf("%d %s %s", code, enh, msg), mta: t.name}
			if code >= 500 {
				o.state = Failed
			}
		}
		return &hostError{outcome: o}
	}
	for _, verify := range []bool{true, false} {
		conn, starttls, err := q.greet(ctx, t)
		if err != nil {
			return nil, nil, "none", herr(err)
		}
		if !starttls {
			c, raw, err := q.client(ctx, conn, "")
			if err != nil {
				return nil, nil, "none", herr(err)
			}
			return c, raw, "none", nil
		}
		cfg := &tls.Config{}
		if q.opts.TLSConfig != nil {
			cfg = q.opts.TLSConfig.Clone()
		}
		cfg.ServerName = t.name
		cfg.MinVersion = tls.VersionTLS12
		cfg.InsecureSkipVerify = !verify
		c, raw, err := q.client(ctx, conn, "STARTTLS", cfg)
		if err == nil {
			mode := "verified"
			if !verify {
				mode = "unverified"
			}
			return c, raw, mode, nil
		}
		var verr *tls.CertificateVerificationError
		if !verify || t.relay || !errors.As(err, &verr) {
			return nil, nil, "none", herr(fmt.Errorf("STARTTLS: %w", err))
		}
	}
	return nil, nil, "none", herr(errors.New("unreachable"))
}

// greet dials t, reads the greeting and sends EHLO, and reports whether
// the server offers STARTTLS. go-smtp cannot STARTTLS after its own EHLO
// with our name, so this first exchange is done here.
func (q *Queue) greet(ctx context.Context, t target) (net.Conn, bool, error) {
	d := net.Dialer{Timeout: q.opts.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(q.opts.CommandTimeout))
	defer conn.SetDeadline(time.Time{})
	tp := textproto.NewConn(nopCloser{conn})
	if _, _, err := tp.ReadResponse(220); err != nil {
		conn.Close()
		return nil, false, replyErr(err, "greeting")
	}
	if err := tp.PrintfLine("EHLO %s", q.opts.Hostname); err != nil {
		conn.Close()
		return nil, false, err
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		// An old server without EHLO: go-smtp falls back to HELO.
		var pe *textproto.Error
		if errors.As(err, &pe) && pe.Code >= 500 {
			return q.buffered(conn, tp.R), false, nil
		}
		conn.Close()
		return nil, false, replyErr(err, "EHLO")
	}
	starttls := false
	for _, l := range strings.Split(msg, "\n")[1:] {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			starttls = true
		}
	}
	return q.buffered(conn, tp.R), starttls, nil
}

// client makes the go-smtp client on conn after greet. With STARTTLS it
// sends the command and does the handshake first. go-smtp wants to read a
// greeting, so it is given a synthetic one: the real one was read by greet.
// It also returns the connection under the client (TLS, when upgraded),
// for the pipelined transaction.
func (q *Queue) client(ctx context.Context, conn net.Conn, cmd string, cfg ...*tls.Config) (*smtp.Client, net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() { stop() }()
	if cmd == "STARTTLS" {
		conn.SetDeadline(time.Now().Add(q.opts.CommandTimeout))
		tp := textproto.NewConn(nopCloser{conn})
		id, err := tp.Cmd("STARTTLS")
		if err == nil {
			tp.StartResponse(id)
			_, _, err = tp.ReadResponse(220)
			tp.EndResponse(id)
		}
		if err != nil {
			conn.Close()
			return nil, nil, replyErr(err, "STARTTLS")
		}
		tc := tls.Client(conn, cfg[0])
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, err
		}
		conn.SetDeadline(time.Time{})
		conn = tc
	}
	c := smtp.NewClient(&prefixConn{Conn: conn, prefix: []byte("220 greeted\r\n")})
	c.CommandTimeout = q.opts.CommandTimeout
	c.SubmissionTimeout = q.opts.DataTimeout
	if err := c.Hello(q.opts.Hostname); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("EHLO: %w", err)
	}
	return c, conn, nil
}

// buffered returns conn, reading first what r has buffered already.
func (q *Queue) buffered(conn net.Conn, r *bufio.Reader) net.Conn {
	if r.Buffered() == 0 {
		return conn
	}
	b, _ := r.Peek(r.Buffered())
	return &prefixConn{Conn: conn, prefix: append([]byte(nil), b...)}
}

// prefixConn serves prefix before reading from Conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

type nopCloser struct{ io.ReadWriter }

func (nopCloser) Close() error { return nil }

// replyErr turns a textproto reply error into an *smtp.SMTPError.
func replyErr(err error, stage string) error {
	var pe *textproto.Error
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", stage, err)
	}
	se := &smtp.SMTPError{Code: pe.Code, Message: pe.Msg, EnhancedCode: smtp.NoEnhancedCode}
	if f := strings.Fields(pe.Msg); len(f) > 0 {
		if p := strings.Split(f[0], "."); len(p) == 3 {
			var ec smtp.EnhancedCode
			ok := true
			for i := range p {
				n, err := strconv.Atoi(p[i])
				ok = ok && err == nil
				ec[i] = n
			}
			if ok {
				se.EnhancedCode, se.Message = ec, strings.TrimSpace(strings.TrimPrefix(pe.Msg, f[0]))
			}
		}
	}
	return se
}

// smtpReply extracts the reply of an *smtp.SMTPError in err.
func smtpReply(err error) (code int, enh, msg string, ok bool) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return 0, "", "", false
	}
	enh = enhanced(se.EnhancedCode)
	if enh == "" {
		enh = fmt.Sprintf("%d.0.0", se.Code/100)
	}
	return se.Code, enh, strings.ReplaceAll(se.Message, "\n", " "), true
}

func enhanced(e smtp.EnhancedCode) string {
	if e == smtp.NoEnhancedCode || e == (smtp.EnhancedCode{}) {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}
