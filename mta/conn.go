package mta

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/filter"
)

// conn is the server side of one SMTP connection (RFC 5321): it reads
// commands, checks their syntax and order, and calls the session's
// handlers (session.go) for what they mean. The replies to a command out
// of sequence are 503 5.5.1; enhanced status codes (RFC 2034) are in a
// reply only once the client's EHLO was answered with ENHANCEDSTATUSCODES.
type conn struct {
	srv  *server
	raw  net.Conn // as accepted: the server's handle for shutdown
	nc   net.Conn // a *tls.Conn after STARTTLS or on 465
	ll   *lineLimitReader
	br   *bufio.Reader
	bw   *bufio.Writer
	sess *session
	auth authSession

	helo   string // the HELO/EHLO argument, "" before it
	ehlo   bool   // the greeting was EHLO: enhanced codes and extensions
	authed bool
	inTx   bool // MAIL was accepted
	rcpts  int  // recipients accepted in the transaction
	quit   bool // close after the reply written last

	// The content filters' session (filters.go), for the whole
	// connection: told of the client at the first command (asked), whose
	// refusal then answers every command but QUIT, RSET, NOOP and HELP.
	fs       *filter.Session
	fsCancel context.CancelFunc
	asked    bool
	denied   *smtp.SMTPError

	// BDAT (RFC 3030): the chunks stream into the session's Data, running
	// on its own goroutine from the first chunk, through a pipe: the
	// message goes to a spool under the MTA's memory budget as it comes,
	// as DATA's does, never whole into this connection's memory.
	bdat     bool
	bdatPipe *io.PipeWriter
	bdatDone chan error // Data's result, once it returns
	bdatSize int64      // octets of the message so far
	bdatFail bool       // a chunk was refused: the rest is discarded until LAST
}

// errBDATAborted ends a BDAT message's Data when the transaction ends
// before LAST (RSET, a new greeting, the end of the session).
var errBDATAborted = errors.New("BDAT transaction ended before LAST")

// authSession is the AUTH half of a session: *session refuses AUTH (port
// 25), *submissionSession offers it.
type authSession interface {
	AuthMechanisms() []string
	Auth(mech string) (sasl.Server, error)
}

func newConn(srv *server, nc net.Conn) *conn {
	c := &conn{srv: srv, raw: nc, nc: nc}
	c.setupIO()
	if f := srv.m.opts.Filters; f != nil {
		ctx, cancel := context.WithCancel(context.Background())
		c.fs, c.fsCancel = f.Open(ctx, &filter.Envelope{Port: srv.kind.String()}), cancel
	}
	c.newSession()
	return c
}

func (c *conn) setupIO() {
	c.ll = &lineLimitReader{r: c.nc, limit: c.srv.m.opts.MaxLineLength}
	c.br = bufio.NewReaderSize(c.ll, 4096)
	c.bw = bufio.NewWriterSize(c.nc, 4096)
}

// newSession begins the session (again after STARTTLS: nothing said in
// clear text carries over, RFC 3207 4.2); the error count does.
func (c *conn) newSession() {
	errs := 0
	if c.sess != nil {
		c.bdatReset()
		errs = c.sess.errors
		c.sess.Logout()
	}
	c.sess = newSession(c.srv.m, c.srv.kind, c)
	c.sess.errors = errs
	c.sess.fs = c.fs
	c.auth = c.sess
	if c.srv.kind == kindSubmission {
		c.auth = &submissionSession{session: c.sess}
	}
	c.helo, c.ehlo, c.authed = "", false, false
	c.inTx, c.rcpts = false, 0
	c.bdatReset()
}

// Hostname, TLSConnectionState and Conn are the session's connState.
func (c *conn) Hostname() string { return c.helo }

func (c *conn) TLSConnectionState() (tls.ConnectionState, bool) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

func (c *conn) Conn() net.Conn { return c.nc }

func (c *conn) opts() *Options { return &c.srv.m.opts }

// serve runs the session until QUIT, an error that ends it, or shutdown.
func (c *conn) serve() {
	defer func() {
		c.flush()
		c.bdatReset()
		c.sess.Logout()
		c.nc.Close()
		if c.fs != nil {
			c.fs.Close()
		}
		if c.fsCancel != nil {
			c.fsCancel()
		}
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		// Implicit TLS (465): the handshake comes before the greeting.
		tc.SetDeadline(time.Now().Add(c.opts().CommandTimeout))
		if err := tc.Handshake(); err != nil {
			c.srv.m.log.Debug("tls handshake", "listener", c.srv.kind.String(), "client", c.nc.RemoteAddr().String(), "err", err)
			return
		}
	}
	c.reply(220, smtp.NoEnhancedCode, c.opts().Hostname+" ESMTP Service Ready")
	for !c.quit {
		line, err := c.readLine(true)
		if err != nil {
			c.readFailed(err)
			return
		}
		c.handle(line)
	}
}

// readLine reads a command line (or an AUTH response), without its line
// ending, within the command timeout; a line cut short by the timeout is
// never returned. A bare LF ends a command line too (people type SMTP
// with nc).
func (c *conn) readLine(command bool) (string, error) {
	if c.br.Buffered() == 0 {
		// Nothing more pipelined: the client waits for the replies.
		if err := c.flush(); err != nil {
			return "", err
		}
	}
	// The deadline is set before the server is told the session is idle,
	// so that shutdown's deadline (now) comes after it.
	c.nc.SetReadDeadline(time.Now().Add(c.opts().CommandTimeout))
	if command && !c.srv.idle(c, true) {
		return "", errShutdown
	}
	defer c.srv.idle(c, false)
	var line []byte
	for {
		b, err := c.br.ReadSlice('\n')
		line = append(line, b...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	return string(line), nil
}

var errShutdown = errors.New("server shutting down")

// readFailed answers the read error that ends the session.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errShutdown):
		c.reply(421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down, try again later")
	case errors.Is(err, smtp.ErrTooLongLine):
		c.reply(500, smtp.EnhancedCode{5, 5, 2}, fmt.Sprintf("Line too long (the limit is %d bytes), closing connection", c.opts().MaxLineLength))
	case errors.As(err, &ne) && ne.Timeout():
		if c.srv.closing() {
			c.reply(421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down, try again later")
		} else {
			c.reply(421, smtp.EnhancedCode{4, 4, 2}, "Timeout waiting for a command, closing connection")
		}
	}
	// EOF, a closed connection, a reset: nothing to say.
}

// flush writes the buffered replies.
func (c *conn) flush() error {
	c.nc.SetWriteDeadline(time.Now().Add(c.opts().CommandTimeout))
	return c.bw.Flush()
}

// reply writes a reply: its text may have several lines ('\n'). ec
// EnhancedCodeNotSet is class.0.0; the code is left out before EHLO.
func (c *conn) reply(code int, ec smtp.EnhancedCode, text string) {
	if ec == smtp.EnhancedCodeNotSet {
		switch code / 100 {
		case 2, 4, 5:
			ec = smtp.EnhancedCode{code / 100, 0, 0}
		default:
			ec = smtp.NoEnhancedCode
		}
	}
	// What the client sent (a HELO name, an address) is echoed: no
	// control character of it reaches the reply.
	text = strings.Map(func(r rune) rune {
		if r != '\n' && (r < 0x20 || r == 0x7f) {
			return '?'
		}
		return r
	}, text)
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
			if c.ehlo && ec != smtp.NoEnhancedCode {
				l = fmt.Sprintf("%d.%d.%d %s", ec[0], ec[1], ec[2], l)
			}
		}
		fmt.Fprintf(c.bw, "%d%s%s\r\n", code, sep, l)
	}
	if code == 421 {
		c.quit = true
	}
}

// replyErr writes err: an *smtp.SMTPError as it is, another error as code
// and ec with its text.
func (c *conn) replyErr(err error, code int, ec smtp.EnhancedCode) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		c.reply(se.Code, se.EnhancedCode, se.Message)
		return
	}
	c.reply(code, ec, err.Error())
}

// refuse writes an error reply of the loop's own (syntax, sequence) and
// counts it against the session's error limit.
func (c *conn) refuse(code int, ec smtp.EnhancedCode, format string, a ...any) {
	c.replyErr(c.sess.fail(smtpErr(code, ec, format, a...)), code, ec)
}

var (
	ecSyntax   = smtp.EnhancedCode{5, 5, 2}
	ecParam    = smtp.EnhancedCode{5, 5, 4}
	ecSequence = smtp.EnhancedCode{5, 5, 1}
	ecOK       = smtp.EnhancedCode{2, 0, 0}
)

func (c *conn) handle(line string) {
	verb, arg := parseCommand(line)
	if !c.asked && c.fs != nil {
		// The filters hear of the client at its first command, not before
		// the greeting: a slow filter never holds up the 220.
		c.asked = true
		c.denied = c.sess.filterConnect()
	}
	if c.denied != nil && verb != "QUIT" && verb != "RSET" && verb != "NOOP" && verb != "HELP" {
		c.replyErr(c.sess.fail(c.denied), 554, smtp.EnhancedCode{5, 7, 1})
		return
	}
	switch verb {
	case "HELO", "EHLO":
		c.hello(verb == "EHLO", arg)
	case "MAIL":
		c.mail(arg)
	case "RCPT":
		c.rcpt(arg)
	case "DATA":
		c.data(arg)
	case "BDAT":
		c.bdatCmd(arg)
	case "RSET":
		if arg != "" {
			c.refuse(501, ecParam, "RSET takes no argument")
			return
		}
		c.resetTx()
		c.reply(250, ecOK, "OK")
	case "NOOP":
		c.reply(250, ecOK, "OK")
	case "VRFY":
		if arg == "" {
			c.refuse(501, ecParam, "VRFY needs an address")
			return
		}
		c.reply(252, smtp.EnhancedCode{2, 5, 0}, "Cannot VRFY user, but will accept message and attempt delivery")
	case "HELP":
		c.reply(214, ecOK, "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY QUIT STARTTLS AUTH (RFC 5321)")
	case "QUIT":
		c.reply(221, ecOK, "Bye")
		c.quit = true
	case "AUTH":
		c.authCmd(arg)
	case "STARTTLS":
		c.startTLS(arg)
	case "EXPN", "SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN":
		c.refuse(502, ecSequence, "%s is not implemented", verb)
	case "":
		c.refuse(500, ecSyntax, "Empty command line")
	default:
		c.refuse(500, ecSyntax, "Command unrecognized: %.40q", verb)
	}
}

// resetTx ends the transaction (RSET, HELO/EHLO, after DATA).
func (c *conn) resetTx() {
	c.bdatReset() // before Reset: a BDAT message's Data must have returned
	c.sess.Reset()
	c.inTx, c.rcpts = false, 0
}

func (c *conn) hello(ehlo bool, arg string) {
	domain, err := parseHelo(arg)
	if err != nil {
		c.refuse(501, ecParam, "Give your domain name: %s client.example.com", map[bool]string{true: "EHLO", false: "HELO"}[ehlo])
		return
	}
	// RFC 5321 4.1.4: a later HELO/EHLO resets the state as RSET does.
	c.resetTx()
	c.helo, c.ehlo = domain, ehlo
	c.sess.esmtp = ehlo
	if e := c.sess.filterHelo(); e != nil {
		c.helo, c.ehlo, c.sess.esmtp = "", false, false
		c.replyErr(c.sess.fail(e), e.Code, e.EnhancedCode)
		return
	}
	host := c.opts().Hostname
	if !ehlo {
		c.reply(250, smtp.NoEnhancedCode, host+" Hello "+domain)
		return
	}
	caps := []string{host + " Hello " + domain, "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING"}
	if _, isTLS := c.TLSConnectionState(); !isTLS && c.srv.tls != nil {
		caps = append(caps, "STARTTLS")
	}
	if mechs := c.auth.AuthMechanisms(); len(mechs) > 0 {
		caps = append(caps, "AUTH "+strings.Join(mechs, " "))
	}
	caps = append(caps, "SMTPUTF8", fmt.Sprintf("SIZE %d", c.opts().MaxMessageBytes), fmt.Sprintf("LIMITS RCPTMAX=%d", c.opts().MaxRecipients))
	c.reply(250, smtp.NoEnhancedCode, strings.Join(caps, "\n"))
}

func (c *conn) mail(arg string) {
	switch {
	case c.helo == "":
		c.refuse(503, ecSequence, "Send HELO or EHLO first")
		return
	case c.inTx:
		c.refuse(503, ecSequence, "Nested MAIL command: a transaction is in progress (RSET ends it)")
		return
	}
	from, params, err := parseMailArg(arg)
	if err != nil {
		c.syntaxErr("MAIL FROM:<address>", err)
		return
	}
	opts, err := mailOptions(params)
	if err != nil {
		c.paramErr(err)
		return
	}
	if err := c.sess.Mail(from, opts); err != nil {
		c.replyErr(err, 451, smtp.EnhancedCode{4, 0, 0})
		return
	}
	c.inTx, c.rcpts = true, 0
	c.reply(250, smtp.EnhancedCode{2, 1, 0}, fmt.Sprintf("Roger, accepting mail from <%s>", from))
}

// syntaxErr refuses a MAIL or RCPT whose argument does not parse.
func (c *conn) syntaxErr(want string, err error) {
	var bp errBadParam
	if errors.As(err, &bp) {
		c.refuse(501, ecParam, "%v", err)
		return
	}
	c.refuse(501, ecSyntax, "Syntax: %s: %v", want, err)
}

// paramErr refuses a parameter: 555 for one of no extension offered.
func (c *conn) paramErr(err error) {
	var u errUnknownParam
	if errors.As(err, &u) {
		c.refuse(555, ecParam, "%v", err)
		return
	}
	c.refuse(501, ecParam, "%v", err)
}

func (c *conn) rcpt(arg string) {
	switch {
	case !c.inTx:
		c.refuse(503, ecSequence, "Need MAIL before RCPT")
		return
	case c.bdat:
		c.refuse(503, ecSequence, "RCPT not allowed during BDAT")
		return
	}
	to, params, err := parseRcptArg(arg)
	if err != nil {
		c.syntaxErr("RCPT TO:<address>", err)
		return
	}
	opts, err := rcptOptions(params)
	if err != nil {
		c.paramErr(err)
		return
	}
	if max := c.opts().MaxRecipients; c.rcpts >= max {
		c.reply(452, smtp.EnhancedCode{4, 5, 3}, fmt.Sprintf("Too many recipients (at most %d)", max))
		return
	}
	if err := c.sess.Rcpt(to, opts); err != nil {
		c.replyErr(err, 451, smtp.EnhancedCode{4, 0, 0})
		return
	}
	c.rcpts++
	c.reply(250, smtp.EnhancedCode{2, 1, 5}, fmt.Sprintf("I'll make sure <%s> gets this", to))
}

func (c *conn) data(arg string) {
	switch {
	case arg != "":
		c.refuse(501, ecParam, "DATA takes no argument")
		return
	case c.bdat:
		c.refuse(503, ecSequence, "DATA not allowed during BDAT")
		return
	case !c.inTx:
		c.refuse(503, ecSequence, "Need MAIL and RCPT before DATA")
		return
	case c.rcpts == 0:
		c.refuse(503, ecSequence, "Need RCPT before DATA")
		return
	}
	c.reply(354, smtp.NoEnhancedCode, "Go ahead. End your data with <CR><LF>.<CR><LF>")
	if err := c.flush(); err != nil {
		c.quit = true
		return
	}
	dr := &dotReader{r: c.br}
	err := c.sess.Data(dr)
	if dr.state != dotEOF && !c.quit {
		// Refused before its end: the rest of the data is read and
		// dropped, unless the session has ended (bare LF, timeout).
		if tc := baseConn(c.nc); tc == nil || (!tc.hungUp.Load() && !tc.timedOut.Load()) {
			c.nc.SetReadDeadline(time.Now().Add(c.opts().DataTimeout))
			if _, derr := io.Copy(io.Discard, dr); derr != nil {
				c.quit = true
			}
		} else {
			c.quit = true
		}
	}
	c.resetTx()
	c.dataReply(err)
}

// dataReply answers the end of a message's data with what Data returned.
func (c *conn) dataReply(err error) {
	if err == nil {
		c.reply(250, ecOK, "OK: queued")
		return
	}
	c.replyErr(err, 554, smtp.EnhancedCode{5, 0, 0})
}

// bdatMessage is the message of a BDAT transaction as the session's Data
// reads it: the chunks' octets, counted by the command loop (no end marker
// that could be smuggled, and client pauses between chunks are commands'
// business, not the data reader's).
type bdatMessage struct{ *io.PipeReader }

// bdatReset ends the BDAT message in progress, if any: its Data sees an
// error (errBDATAborted) and returns before this does.
func (c *conn) bdatReset() {
	if c.bdatPipe != nil {
		c.bdatPipe.CloseWithError(errBDATAborted)
		<-c.bdatDone
	}
	c.bdat, c.bdatFail, c.bdatSize = false, false, 0
	c.bdatPipe, c.bdatDone = nil, nil
}

// bdatStart runs the session's Data on the message the chunks make.
func (c *conn) bdatStart() {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := c.sess.Data(bdatMessage{pr})
		pr.CloseWithError(errBDATAborted) // a chunk still being written ends
		done <- err
	}()
	c.bdatPipe, c.bdatDone = pw, done
}

// bdatEnd closes the message (LAST, or Data gave up early) and returns
// what Data returned.
func (c *conn) bdatEnd() error {
	c.bdatPipe.Close()
	err := <-c.bdatDone
	c.bdatPipe, c.bdatDone = nil, nil
	return err
}

// bdatCmd takes one chunk (RFC 3030): the chunk follows the command line,
// whatever the reply; the message is handed to the session at LAST.
func (c *conn) bdatCmd(arg string) {
	f := strings.Fields(arg)
	last := len(f) == 2 && strings.EqualFold(f[1], "LAST")
	var size uint64
	var err error
	if len(f) >= 1 {
		size, err = strconv.ParseUint(f[0], 10, 63)
	}
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !last) || err != nil {
		// Where the chunk ends is not known: nothing after it can be
		// read as a command.
		c.reply(501, ecParam, "Syntax: BDAT size [LAST]; closing connection")
		c.quit = true
		return
	}
	max := c.opts().MaxMessageBytes
	refuse := func(code int, ec smtp.EnhancedCode, text string) {
		if !c.discard(int64(size)) {
			return
		}
		c.refuse(code, ec, "%s", text)
	}
	switch {
	case !c.inTx:
		refuse(503, ecSequence, "Need MAIL and RCPT before BDAT")
		return
	case c.rcpts == 0:
		refuse(503, ecSequence, "Need RCPT before BDAT")
		return
	case c.bdatFail:
		refuse(554, smtp.EnhancedCode{5, 5, 0}, "The message was refused already; RSET")
		if last {
			c.resetTx()
		}
		return
	case c.bdatSize+int64(size) > max:
		if c.bdatPipe != nil {
			c.bdatPipe.CloseWithError(errBDATAborted)
			<-c.bdatDone
			c.bdatPipe, c.bdatDone = nil, nil
		}
		c.bdat, c.bdatFail = true, true
		refuse(552, smtp.EnhancedCode{5, 3, 4}, "Message too big for system")
		if last {
			c.resetTx()
		}
		return
	}
	c.bdat = true
	if c.bdatPipe == nil {
		c.bdatStart()
	}
	c.bdatSize += int64(size)
	c.ll.limit = 0
	c.nc.SetReadDeadline(time.Now().Add(c.opts().DataTimeout))
	n, err := io.CopyN(c.bdatPipe, c.br, int64(size))
	c.ll.limit = c.opts().MaxLineLength
	if err != nil && errors.Is(err, errBDATAborted) {
		// Data gave up (a bare LF, no memory): the rest of this chunk
		// is read and dropped, the later ones refused until LAST.
		if !c.discard(int64(size) - n) {
			return
		}
		derr := c.bdatEnd()
		c.bdatFail = !last
		if last {
			c.resetTx()
		}
		c.dataReply(derr)
		return
	}
	if err != nil {
		c.quit = true
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.reply(421, smtp.EnhancedCode{4, 4, 2}, "Timeout waiting for the chunk, closing connection")
		}
		return
	}
	if !last {
		c.reply(250, ecOK, fmt.Sprintf("%d octets received", size))
		return
	}
	err = c.bdatEnd()
	c.resetTx()
	c.dataReply(err)
}

// discard reads and drops n bytes of a refused chunk; false when the
// connection failed (the session then ends).
func (c *conn) discard(n int64) bool {
	c.ll.limit = 0
	defer func() { c.ll.limit = c.opts().MaxLineLength }()
	c.nc.SetReadDeadline(time.Now().Add(c.opts().DataTimeout))
	if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
		c.quit = true
		return false
	}
	return true
}

func (c *conn) authCmd(arg string) {
	switch {
	case c.helo == "" || !c.ehlo:
		c.refuse(503, ecSequence, "Send EHLO first")
		return
	case c.authed:
		c.refuse(503, ecSequence, "Already authenticated")
		return
	case c.inTx:
		c.refuse(503, ecSequence, "AUTH not allowed during a mail transaction")
		return
	}
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		c.refuse(501, ecParam, "Syntax: AUTH mechanism [initial-response]")
		return
	}
	mech := strings.ToUpper(f[0])
	var resp []byte
	if len(f) == 2 {
		var err error
		if resp, err = decodeSASL(f[1]); err != nil {
			c.refuse(501, ecSyntax, "Invalid base64 in the initial response")
			return
		}
	}
	srv, err := c.auth.Auth(mech)
	if err != nil {
		c.replyErr(c.sess.fail(asSMTPError(err, 504, smtp.EnhancedCode{5, 5, 4})), 504, smtp.EnhancedCode{5, 5, 4})
		return
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				// The session counted its own failures (session.Auth).
				c.reply(se.Code, se.EnhancedCode, se.Message)
			} else {
				c.refuse(501, ecSyntax, "Malformed authentication data: %v", err)
			}
			return
		}
		if done {
			break
		}
		c.reply(334, smtp.NoEnhancedCode, base64.StdEncoding.EncodeToString(challenge))
		line, err := c.readLine(false)
		if err != nil {
			c.readFailed(err)
			c.quit = true
			return
		}
		if line == "*" {
			c.refuse(501, smtp.EnhancedCode{5, 0, 0}, "Authentication cancelled")
			return
		}
		if resp, err = decodeSASL(line); err != nil {
			c.refuse(501, ecSyntax, "Invalid base64 in the response")
			return
		}
	}
	c.authed = true
	c.reply(235, smtp.EnhancedCode{2, 7, 0}, "Authentication succeeded")
}

// asSMTPError is err as an *smtp.SMTPError (code and ec if it is none).
func asSMTPError(err error, code int, ec smtp.EnhancedCode) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return smtpErr(code, ec, "%v", err)
}

// decodeSASL decodes a SASL response: base64, "=" for an empty one.
func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// startTLS upgrades the connection (RFC 3207). What the client pipelined
// after STARTTLS in clear text is dropped unread: the buffered reader goes
// with the clear-text connection (the STARTTLS command injection fix).
func (c *conn) startTLS(arg string) {
	switch {
	case arg != "":
		c.refuse(501, ecParam, "STARTTLS takes no argument")
		return
	case c.srv.tls == nil:
		c.refuse(502, ecSequence, "STARTTLS is not offered")
		return
	}
	if _, isTLS := c.TLSConnectionState(); isTLS {
		c.refuse(503, ecSequence, "Already running TLS")
		return
	}
	c.reply(220, ecOK, "Ready to start TLS")
	if err := c.flush(); err != nil {
		c.quit = true
		return
	}
	if n := c.br.Buffered(); n > 0 {
		c.srv.m.log.Warn("clear text pipelined after STARTTLS dropped", "listener", c.srv.kind.String(), "client", c.nc.RemoteAddr().String(), "bytes", n)
	}
	tc := tls.Server(c.nc, c.srv.tls)
	tc.SetDeadline(time.Now().Add(c.opts().CommandTimeout))
	if err := tc.Handshake(); err != nil {
		c.srv.m.log.Debug("starttls handshake", "listener", c.srv.kind.String(), "client", c.nc.RemoteAddr().String(), "err", err)
		c.quit = true
		return
	}
	tc.SetDeadline(time.Time{})
	c.nc = tc
	c.setupIO()
	c.newSession()
}
