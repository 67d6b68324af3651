package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// session is one IMAP connection: its state machine (RFC 9051 3), the
// command loop and the writer of its responses. Every read and write is
// made by the session's goroutine (which a wait for input hands on to a
// new one: serve), except while it waits for input in IDLE or under
// NOTIFY, when a short-lived goroutine writes the updates (wait.go); the
// session waits for it to end before it goes on. The autologout timer
// and Server.Close do not write: they mark the session as ending and cut
// its read short with a deadline, and the session says BYE itself.
type session struct {
	srv *Server
	nc  net.Conn // the connection, TLS after STARTTLS, compressed after COMPRESS
	raw net.Conn // the connection as accepted: deadlines set from other goroutines
	br  *bufio.Reader
	bw  *bufio.Writer
	e   enc
	ctx context.Context
	log *slog.Logger

	isTLS    bool
	insecure bool // plaintext LOGIN allowed (loopback)
	state    connState
	rev2     bool // ENABLE IMAP4rev2
	// utf8Accept: ENABLE UTF8=ACCEPT was given (RFC 6855); e.utf8 says
	// whether names and strings are UTF-8 (this or IMAP4rev2).
	utf8Accept bool
	// contexts are the updating searches (RFC 5267, context.go); ctxCand
	// the messages they must look at again. Session goroutine only.
	contexts []*searchContext
	ctxCand  []store.UID
	// condstore: CONDSTORE is enabled (RFC 7162 3.1): FLAGS come with MODSEQ.
	condstore bool
	qresync   bool // QRESYNC is enabled (RFC 7162 3.2.3)
	// pre is input awaitInput read ahead, not yet in br; wait is what
	// it shares with the bursts that report while it waits (wait.go).
	pre      []byte
	wait     waitState
	awaiting awaiting // what to wait for and do next, with errAwait
	// ending is why the session must end (endAutologout, endShutdown), set
	// from other goroutines.
	ending atomic.Int32

	timer   *time.Timer // autologout
	timerMu sync.Mutex  // guards closed and timerLog
	closed  bool        // a late touch must not rearm timer
	// timerLog is log as of the last touch, for autoLogout, which runs on
	// the timer's goroutine and so must not read log itself.
	timerLog *slog.Logger

	// cmd and parser are the command being run and its reader, kept here
	// so that a command allocates neither; contFn is s.cont, made once.
	cmd    cmd
	parser parser
	contFn func(string) error

	acct   *store.Account
	view   *view     // selected mailbox, or nil
	notify *notifier // NOTIFY's state (cmd_notify.go), or nil
	tag    string
}

type connState int

const (
	stateNotAuth connState = iota
	stateAuth
	stateSelected
	stateLogout
)

const (
	endAutologout = 1
	endShutdown   = 2
)

// sessionIO reads and writes the session's current connection; a read
// first writes out the responses waiting in bw, then gives what
// awaitInput read ahead (pre) before reading the connection.
type sessionIO struct{ s *session }

func (io sessionIO) Read(p []byte) (int, error) {
	s := io.s
	if err := s.bw.Flush(); err != nil {
		return 0, err
	}
	if len(s.pre) > 0 {
		n := copy(p, s.pre)
		s.pre = s.pre[n:]
		return n, nil
	}
	return s.nc.Read(p)
}

func (io sessionIO) Write(p []byte) (int, error) { return io.s.nc.Write(p) }

// serveConn runs one connection's session until it ends.
func (srv *Server) serveConn(c net.Conn, insecure bool) {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		c.Write([]byte("* BYE Server shutting down\r\n"))
		c.Close()
		return
	}
	s := &session{srv: srv, nc: c, raw: c, ctx: context.Background(), insecure: insecure}
	srv.sessions.Add(1)
	srv.conns[s] = struct{}{}
	srv.mu.Unlock()
	_, s.isTLS = c.(*tls.Conn)
	s.takeBuffers()
	s.wait.hook = s.wakeUp
	s.log = srv.log.With("remote", c.RemoteAddr().String())
	s.timerLog = s.log
	s.timer = time.AfterFunc(srv.opts.AutoLogout, s.autoLogout)
	s.e.raw("* OK [CAPABILITY ").raw(strings.Join(s.caps(), " ")).raw("] Petrel IMAP server ready").crlf()
	s.serve(s.command)
}

// serve runs the session's commands, step first, until the session ends.
// A command that must wait for the client while it reports changes (IDLE,
// NOTIFY) returns errAwait with s.awaiting set: serve then hands the
// session to a new goroutine, which waits (awaitInput) and goes on, and
// returns, so that the stack the commands grew is not kept while the
// client is idle (an 8 KiB stack parked deep in a command; the new
// goroutine's is a few frames above a read).
func (s *session) serve(step func() error) {
	handedOff := false
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in IMAP session", "panic", v, "stack", string(debug.Stack()))
		}
		if !handedOff {
			s.finish()
		}
	}()
	for s.state != stateLogout {
		var err error
		if step != nil {
			err, step = step(), nil
		} else {
			err = s.command() // not step = s.command: a method value per command
		}
		if errors.Is(err, errAwait) {
			a := s.awaiting
			s.awaiting = awaiting{}
			handedOff = true
			go s.serve(func() error { return a.then(s.awaitInput(a.w1, a.w2)) })
			return
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !isTimeout(err) && !errors.Is(err, errEnded) {
				s.log.Debug("session ends", "err", err)
			}
			return
		}
	}
}

// finish closes the connection of a session that ended and forgets it.
func (s *session) finish() {
	s.bw.Flush()
	s.nc.Close()
	s.close()
	s.srv.mu.Lock()
	delete(s.srv.conns, s)
	s.srv.mu.Unlock()
	s.srv.sessions.Done()
}

var errEnded = errors.New("session ended")

func isTimeout(err error) bool {
	if err == nil {
		return false // before ne, which errors.As moves to the heap
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// end makes the session end soon with BYE (why: endAutologout,
// endShutdown), from any goroutine.
func (s *session) end(why int32) {
	if s.ending.CompareAndSwap(0, why) {
		s.raw.SetReadDeadline(time.Now()) // not s.nc: STARTTLS and COMPRESS replace it
	}
}

// bye writes the BYE of an ending session.
func (s *session) bye() error {
	switch s.ending.Load() {
	case endAutologout:
		s.e.raw("* BYE Autologout; idle for too long").crlf()
	case endShutdown:
		s.e.raw("* BYE Server shutting down").crlf()
	default:
		return nil
	}
	s.bw.Flush()
	return errEnded
}

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
	s.end(endAutologout)
}

func (s *session) close() {
	s.timerMu.Lock()
	s.closed = true
	s.timer.Stop()
	s.timerMu.Unlock()
	s.unselect()
	s.stopNotify()
}

// cont writes a continuation request and sends it at once.
func (s *session) cont(text string) error {
	s.e.raw("+ ").raw(text).crlf()
	return s.bw.Flush()
}

// quietAfter is how long a logged-in session waits for its next command
// with its buffers and stack before it waits as in IDLE (awaitInput): a
// client that pauses gives them back, one in the middle of its work does
// not pay for it.
const quietAfter = time.Second

// command reads and runs one command. A non-nil error ends the session.
func (s *session) command() error {
	// Not before login (a TLS handshake may still be to come, and a
	// timeout would end it) nor under COMPRESS (the inflater keeps a
	// read's error).
	quiet := s.state != stateNotAuth && s.notify == nil && !s.compressed() && s.br.Buffered() == 0
	if quiet {
		s.nc.SetReadDeadline(time.Now().Add(quietAfter))
	} else {
		s.nc.SetReadDeadline(time.Time{})
	}
	if err := s.bye(); err != nil {
		return err
	}
	if s.notify != nil && s.br.Buffered() == 0 {
		// NOTIFY reports events until input comes.
		s.awaiting = s.notifyAwaiting(s.commandAfterInput)
		return errAwait
	}
	_, err := s.br.Peek(1)
	if quiet && isTimeout(err) && s.ending.Load() == 0 {
		// Quiet: wait without buffers, on a small stack.
		s.nc.SetReadDeadline(time.Time{})
		if err := s.bye(); err != nil { // end cut the read short just now
			return err
		}
		s.awaiting = awaiting{then: s.commandAfterInput}
		return errAwait
	}
	return s.commandAfterInput(err)
}

// commandAfterInput runs the command whose first octets came (or the
// error of waiting for them).
func (s *session) commandAfterInput(err error) error {
	if err != nil {
		if berr := s.bye(); berr != nil {
			return berr
		}
		return err
	}
	s.nc.SetReadDeadline(time.Now().Add(cmdReadTimeout))
	if s.contFn == nil {
		s.contFn = s.cont
	}
	s.parser = parser{br: s.br, cont: s.contFn, utf8: s.e.utf8}
	return s.afterCommand(s.run(&s.parser))
}

// afterCommand ends the session if the command's result says so.
func (s *session) afterCommand(err error) error {
	if errors.Is(err, errAwait) {
		return err
	}
	// The command is over: its parser must not keep the reader, which a
	// quiet session gives back to the server's pool.
	s.parser.br = nil
	if s.ending.Load() != 0 {
		return s.bye()
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, errTooLong) {
		s.e.raw("* BYE Command too long").crlf()
		s.bw.Flush()
		return err
	}
	return err
}

// cmd is what a command handler gets: the parser after the command name.
type cmd struct {
	tag, name string
	uid       bool
	p         *parser
}

type handler struct {
	fn     func(s *session, c *cmd) error
	states []connState
}

var anyState = []connState{stateNotAuth, stateAuth, stateSelected}
var authStates = []connState{stateAuth, stateSelected}
var selectedState = []connState{stateSelected}

// commands maps a command name (with "UID " for the UID forms) to its
// handler; the handlers live in a file per command group (cmd_*.go).
// uidNames maps the names after "UID " to those keys.
var (
	commands map[string]handler
	uidNames map[string]string
)

func init() {
	commands = map[string]handler{
		"CAPABILITY":     {(*session).cmdCapability, anyState},
		"NOOP":           {(*session).cmdNoop, anyState},
		"LOGOUT":         {(*session).cmdLogout, anyState},
		"ID":             {(*session).cmdID, anyState},
		"STARTTLS":       {(*session).cmdStartTLS, []connState{stateNotAuth}},
		"LOGIN":          {(*session).cmdLogin, []connState{stateNotAuth}},
		"AUTHENTICATE":   {(*session).cmdAuthenticate, []connState{stateNotAuth}},
		"UNAUTHENTICATE": {(*session).cmdUnauthenticate, authStates},
		"ENABLE":         {(*session).cmdEnable, authStates},
		"NAMESPACE":      {(*session).cmdNamespace, authStates},
		"SELECT":         {(*session).cmdSelect, authStates},
		"EXAMINE":        {(*session).cmdSelect, authStates},
		"CREATE":         {(*session).cmdCreate, authStates},
		"DELETE":         {(*session).cmdDelete, authStates},
		"RENAME":         {(*session).cmdRename, authStates},
		"SUBSCRIBE":      {(*session).cmdSubscribe, authStates},
		"UNSUBSCRIBE":    {(*session).cmdSubscribe, authStates},
		"LIST":           {(*session).cmdList, authStates},
		"LSUB":           {(*session).cmdList, authStates},
		"STATUS":         {(*session).cmdStatus, authStates},
		"APPEND":         {(*session).cmdAppend, authStates},
		"GETMETADATA":    {(*session).cmdGetMetadata, authStates},
		"SETMETADATA":    {(*session).cmdSetMetadata, authStates},
		"IDLE":           {(*session).cmdIdle, authStates},
		"COMPRESS":       {(*session).cmdCompress, authStates},
		"NOTIFY":         {(*session).cmdNotify, authStates},
		"CHECK":          {(*session).cmdNoop, selectedState},
		"CLOSE":          {(*session).cmdClose, selectedState},
		"UNSELECT":       {(*session).cmdClose, selectedState},
		"EXPUNGE":        {(*session).cmdExpunge, selectedState},
		"UID EXPUNGE":    {(*session).cmdExpunge, selectedState},
		"FETCH":          {(*session).cmdFetch, selectedState},
		"UID FETCH":      {(*session).cmdFetch, selectedState},
		"STORE":          {(*session).cmdStore, selectedState},
		"UID STORE":      {(*session).cmdStore, selectedState},
		"SEARCH":         {(*session).cmdSearch, selectedState},
		"UID SEARCH":     {(*session).cmdSearch, selectedState},
		"COPY":           {(*session).cmdCopy, selectedState},
		"UID COPY":       {(*session).cmdCopy, selectedState},
		"MOVE":           {(*session).cmdCopy, selectedState},
		"UID MOVE":       {(*session).cmdCopy, selectedState},
		"SORT":           {(*session).cmdSort, selectedState},
		"UID SORT":       {(*session).cmdSort, selectedState},
		"THREAD":         {(*session).cmdThread, selectedState},
		"UID THREAD":     {(*session).cmdThread, selectedState},
		"GETQUOTA":       {(*session).cmdGetQuota, authStates},
		"GETQUOTAROOT":   {(*session).cmdGetQuotaRoot, authStates},
		"SETQUOTA":       {(*session).cmdSetQuota, authStates},
		"CANCELUPDATE":   {(*session).cmdCancelUpdate, selectedState},
	}
	uidNames = map[string]string{}
	for name := range commands {
		if sub, ok := strings.CutPrefix(name, "UID "); ok {
			uidNames[sub] = name
		}
	}
}

// run reads a command's tag and name, runs its handler and writes the
// tagged reply.
func (s *session) run(p *parser) error {
	tag, err := p.word(isTagChar, "tag")
	if err == nil {
		err = p.sp()
	}
	var name string
	if err == nil {
		name, err = p.atom()
	}
	s.cmd = cmd{tag: tag, p: p}
	c := &s.cmd
	if err == nil {
		name = strings.ToUpper(name)
		if name == "UID" {
			var sub string
			if err = p.sp(); err == nil {
				if sub, err = p.atom(); err == nil {
					sub = strings.ToUpper(sub)
					if n, ok := uidNames[sub]; ok {
						name = n
					} else {
						name = "UID " + sub
					}
					c.uid = true
				}
			}
		}
	}
	if err != nil {
		return s.badCommand(p, tag, err)
	}
	c.name = name
	s.tag = tag
	h, ok := commands[name]
	if !ok {
		if s.state == stateNotAuth {
			s.e.status(tag, &imap.StatusResponse{Type: imap.StatusResponseTypeBad, Text: "Unknown command"})
			s.e.raw("* BYE Unknown command").crlf()
			s.state = stateLogout
			return nil
		}
		s.e.status(tag, &imap.StatusResponse{Type: imap.StatusResponseTypeBad, Text: "Unknown command"})
		return p.skipLine()
	}
	if !inState(s.state, h.states) {
		text := "Not allowed in this state"
		switch {
		case s.state == stateNotAuth:
			text = "Log in first"
		case s.state == stateAuth && inState(stateSelected, h.states):
			text = "No mailbox selected"
		}
		s.e.status(tag, &imap.StatusResponse{Type: imap.StatusResponseTypeBad, Text: text})
		return p.skipLine()
	}
	err = h.fn(s, c)
	return s.reply(c, err)
}

// badCommand answers a command whose tag or name could not be read.
func (s *session) badCommand(p *parser, tag string, err error) error {
	var se *syntaxError
	if errors.As(err, &se) {
		if s.state == stateNotAuth {
			// Mitigates cross-protocol attacks (a browser's form posted to
			// port 143): before login, nothing but IMAP gets a second line.
			s.e.raw("* BYE Syntax error: ").raw(se.msg).crlf()
			s.state = stateLogout
			return nil
		}
		if tag == "" {
			tag = "*"
		}
		s.e.status(tag, &imap.StatusResponse{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Syntax error: " + se.msg})
		return p.skipLine()
	}
	return err
}

func inState(st connState, states []connState) bool {
	for _, x := range states {
		if x == st {
			return true
		}
	}
	return false
}

// errReplied: the handler wrote its own tagged reply.
var errReplied = errors.New("replied")

// reply writes the tagged reply for a handler's result: nil is OK (after
// the updates the command allows), an *imap.Error its status (an OK one
// with its response code), a syntaxError BAD; I/O errors end the session,
// and any other error is the server's fault: logged, NO [SERVERBUG].
func (s *session) reply(c *cmd, err error) error {
	if err == nil {
		if err := s.poll(c.name); err != nil {
			return err
		}
		// status's "tag OK name completed", without making its text.
		s.e.raw(c.tag).raw(" OK ").raw(c.name).raw(" completed").crlf()
		return nil
	}
	return s.replyError(c, err)
}

// replyError is reply for a handler's error (the targets errors.As fills
// cost an allocation: a command that succeeds makes none).
func (s *session) replyError(c *cmd, err error) error {
	var (
		ie *imap.Error
		se *syntaxError
	)
	switch {
	case errors.Is(err, errReplied):
		return nil
	case errors.Is(err, errAwait):
		return err // the reply comes after the wait (s.awaiting.then)
	case errors.As(err, &se):
		s.e.status(c.tag, &imap.StatusResponse{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Syntax error: " + se.msg})
		return c.p.skipLine()
	case errors.As(err, &ie):
		if ie.Type == imap.StatusResponseTypeBye {
			s.e.status("", (*imap.StatusResponse)(ie))
			return errEnded
		}
		if ie.Type == imap.StatusResponseTypeOK {
			if err := s.poll(c.name); err != nil {
				return err
			}
			if ie.Text == "" {
				ie.Text = c.name + " completed"
			}
		}
		s.e.status(c.tag, (*imap.StatusResponse)(ie))
		return c.p.skipLine()
	case c.p.ioErr != nil || isIOError(err):
		return err
	}
	s.log.Warn("command failed", "command", c.name, "err", err)
	s.e.status(c.tag, &imap.StatusResponse{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal server error"})
	return c.p.skipLine()
}

// isIOError: the connection failed (or the command outgrew its limit).
func isIOError(err error) bool {
	var ne net.Error
	return errors.Is(err, errTooLong) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, errEnded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// ok is a tagged OK with a response code.
func ok(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeOK, Code: code, Text: text}
}

func no(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

func bad(text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Text: text}
}

// poll writes the selected mailbox's changes after a command; after FETCH,
// STORE and SEARCH (by sequence number) without EXPUNGE (RFC 9051 7.5.1).
func (s *session) poll(name string) error {
	s.touch()
	allowExpunge := true
	switch name {
	case "FETCH", "STORE", "SEARCH":
		allowExpunge = false
	case "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE":
		s.srv.accountChanged(s.acct.ID) // NOTIFY MailboxName (cmd_notify.go)
	}
	if s.view != nil {
		if err := s.pollView(allowExpunge); err != nil {
			return err
		}
	}
	if s.notify != nil {
		return s.notifyAfterCommand(allowExpunge)
	}
	return nil
}

// caps is what the session advertises now (RFC 9051 7.2.2).
func (s *session) caps() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "SASL-IR", "LITERAL+", "ID"}
	if s.state == stateNotAuth {
		if s.srv.opts.TLSConfig != nil && !s.isTLS {
			caps = append(caps, "STARTTLS")
		}
		if s.isTLS || s.insecure {
			caps = append(caps, "AUTH=PLAIN")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		return caps
	}
	caps = append(caps, quotaCaps...)
	return append(caps, "ENABLE", "IDLE", "UNSELECT", "UTF8=ACCEPT", "NAMESPACE", "UIDPLUS", "ESEARCH", "SEARCHRES",
		"LIST-EXTENDED", "LIST-STATUS", "MOVE", "STATUS=SIZE", "BINARY", "CHILDREN", "SPECIAL-USE",
		"CREATE-SPECIAL-USE", "UNAUTHENTICATE", "MULTIAPPEND", "SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "ESORT", "WITHIN", "OBJECTID", "PREVIEW", "SAVEDATE", "CONTEXT=SEARCH", "CONDSTORE", "QRESYNC", "METADATA", "METADATA-SERVER", "COMPRESS=DEFLATE", "NOTIFY", fmt.Sprintf("APPENDLIMIT=%d", s.srv.opts.AppendLimit))
}

// writeCtx marks the session's writes so their flag changes are not echoed
// back to it.
func (s *session) writeCtx() context.Context {
	if s.view == nil {
		return s.ctx
	}
	return store.WithOrigin(s.ctx, s.view)
}

func (s *session) unselect() {
	s.contexts, s.ctxCand = nil, nil
	if s.view != nil {
		s.view.close()
		s.view = nil
	}
	if s.state == stateSelected {
		s.state = stateAuth
	}
}

func (s *session) writable() (*view, error) {
	if s.view.readOnly {
		return nil, no(imap.ResponseCodeCannot, "Mailbox is read-only (EXAMINE)")
	}
	return s.view, nil
}

// updates writes the unsolicited responses poll reports.
func (s *session) updates() updateWriter { return sessionUpdates{s} }

type sessionUpdates struct{ s *session }

// WriteExpunged writes EXPUNGE responses, highest first so that each
// sequence number is valid when sent, or, once QRESYNC is enabled, one
// VANISHED (RFC 7162 3.2.10).
func (u sessionUpdates) WriteExpunged(seqs []uint32, uids []store.UID) error {
	if u.s.qresync {
		u.s.e.raw("* VANISHED ").raw(numSetString(uidSet(uids))).crlf()
		return nil
	}
	for i := len(seqs) - 1; i >= 0; i-- {
		u.s.e.raw("* ").num(seqs[i]).raw(" EXPUNGE").crlf()
	}
	return nil
}

func (u sessionUpdates) WriteNumMessages(n uint32) error {
	u.s.e.raw("* ").num(n).raw(" EXISTS").crlf()
	if !u.s.rev2 && u.s.view != nil {
		u.s.e.raw("* ").num(uint32(len(u.s.view.recent))).raw(" RECENT").crlf()
	}
	return nil
}

func (u sessionUpdates) WriteMessageFlags(seq uint32, uid imap.UID, flags []string, modseq uint64) error {
	u.s.announceKeywords(flags)
	u.s.e.raw("* ").num(seq).raw(" FETCH (UID ").num(uint32(uid)).raw(" FLAGS ")
	writeFlags(&u.s.e, flags, u.s.view.showRecent(store.UID(uid), u.s.rev2))
	if u.s.condstore {
		u.s.e.raw(" MODSEQ (").num64(int64(modseq)).raw(")")
	}
	u.s.e.raw(")").crlf()
	return nil
}

// announceKeywords writes FLAGS and PERMANENTFLAGS again if flags hold a
// keyword the session has not been told of: a client may reject a keyword
// it meets in a FETCH before FLAGS lists it (RFC 3501 7.2.6).
func (s *session) announceKeywords(flags []string) {
	if s.view == nil || !s.view.newKeywords(flags) {
		return
	}
	s.writeFlags()
}

// writeFlags writes the selected mailbox's FLAGS and PERMANENTFLAGS.
func (s *session) writeFlags() {
	fl := s.view.flagList()
	s.e.raw("* FLAGS ").flags(fl).crlf()
	if s.view.readOnly {
		s.e.raw("* OK [PERMANENTFLAGS ()] No permanent flags permitted").crlf()
	} else {
		s.e.raw("* OK [PERMANENTFLAGS ").flags(append(fl, imap.FlagWildcard)).raw("] Flags permitted").crlf()
	}
}
