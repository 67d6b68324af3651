package filter

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	milter "github.com/d--j/go-milter"
)

// Session is the filters of one SMTP connection, told of each stage as it
// happens, as Sendmail and Postfix tell theirs: the connection (client
// address and the connect macros) and HELO at once, then per transaction
// MAIL, each RCPT, and at DATA the header, the body and the end of the
// message. Each filter that sees the port keeps one milter connection for
// the whole SMTP connection. A Session is used by one goroutine.
//
// A stage's verdict comes back as a *Result (nil: go on). What a filter's
// answer means at each stage:
//   - reject or tempfail at connect: the connection is refused (the caller
//     answers every command but QUIT with it); at HELO, MAIL or DATA: that
//     command is refused; at RCPT: that recipient only;
//   - accept at connect or HELO: the filter is not asked again for this
//     connection; at MAIL or RCPT: not for this transaction;
//   - discard at MAIL or RCPT: the transaction's message is taken and
//     delivered nowhere (Data says Discard);
//   - a filter that cannot be reached or does not answer within its
//     timeout follows on_error at every stage: "accept" goes on without
//     it for the rest of the connection, "tempfail" answers 451 4.7.1 to
//     this command and every later one that would need it.
type Session struct {
	c       *Chain
	ctx     context.Context
	cancel  context.CancelFunc
	filters []*live
	discard *Result // a filter discarded the transaction at MAIL or RCPT
}

// live is one filter's conversation in a Session.
type live struct {
	f      *milterFilter
	macros *milter.MacroBag
	s      *milter.ClientSession
	off    bool  // accepted the connection, or failed with on_error "accept"
	txOff  bool  // accepted the transaction
	inTx   bool  // told of a MAIL whose transaction has not ended for it
	failed error // could not be reached or failed, with on_error "tempfail"
}

// Open begins the filters' session for one SMTP connection of env.Port;
// nil when no filter sees that port. Nothing is dialled before Connect.
// ctx bounds the whole connection: its end closes the filters'
// connections.
func (c *Chain) Open(ctx context.Context, env *Envelope) *Session {
	s := &Session{c: c}
	for _, f := range c.filters {
		if slices.Contains(f.spec.Ports, env.Port) {
			s.filters = append(s.filters, &live{f: f, macros: milter.NewMacroBag()})
		}
	}
	if len(s.filters) == 0 {
		return nil
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s
}

// Close ends every filter's conversation.
func (s *Session) Close() {
	if s == nil {
		return
	}
	for _, l := range s.filters {
		if l.s != nil {
			l.s.Close()
		}
	}
	s.cancel()
}

// Connect dials each filter and tells it of the client (address, reverse
// name, the connect macros).
func (s *Session) Connect(env *Envelope) *Result {
	for _, l := range s.filters {
		setConnectMacros(l.macros, env)
		d := &connDialer{ctx: s.ctx, timeout: l.f.spec.Timeout}
		client := milter.NewClient(l.f.network, l.f.addr, append(l.f.opts, milter.WithDialer(d))...)
		context.AfterFunc(s.ctx, d.close)
		ms, err := client.Session(l.macros)
		if err != nil {
			if r := s.failure(env, l, "connect", err); r != nil {
				return r
			}
			continue
		}
		l.s = ms
	}
	family, addr, port := milter.FamilyUnknown, "", uint16(0)
	if ip := env.ClientIP; ip != nil {
		family, addr, port = milter.FamilyInet, ip.String(), uint16(env.ClientPort)
		if ip.To4() == nil {
			family = milter.FamilyInet6
		}
	}
	host := env.ClientName
	if host == "" || host == "unknown" {
		host = "[" + addr + "]"
	}
	return s.step(env, "connect", func(l *live) (*milter.Action, error) {
		return l.s.Conn(host, family, port, addr)
	})
}

// Helo tells the filters the HELO or EHLO name (again after STARTTLS,
// with the TLS macros).
func (s *Session) Helo(env *Envelope) *Result {
	return s.step(env, "HELO", func(l *live) (*milter.Action, error) {
		setConnectMacros(l.macros, env)
		return l.s.Helo(env.Helo)
	})
}

// Mail tells the filters of a new transaction: env.From, the queue ID
// and the login ({auth_authen}).
func (s *Session) Mail(env *Envelope) *Result {
	s.Reset()
	return s.step(env, "MAIL", func(l *live) (*milter.Action, error) {
		l.macros.Set(milter.MacroQueueId, env.QueueID)
		setMailMacros(l.macros, env)
		l.inTx = true
		return l.s.Mail(env.From, "")
	})
}

// Rcpt tells the filters of one recipient the server accepted; a refusal
// is for that recipient only.
func (s *Session) Rcpt(env *Envelope, rcpt string) *Result {
	return s.step(env, "RCPT", func(l *live) (*milter.Action, error) {
		setRcptMacros(l.macros, env, rcpt)
		return l.s.Rcpt(rcpt, "")
	})
}

// Reset ends the transaction for the filters (RSET, a new MAIL or HELO,
// after DATA): those told of it and not at its end hear an abort.
func (s *Session) Reset() {
	if s == nil {
		return
	}
	s.discard = nil
	for _, l := range s.filters {
		if l.inTx && l.s != nil && !l.off && l.failed == nil {
			if err := l.s.Abort(nil); err != nil {
				l.fail(err)
			}
		}
		l.inTx, l.txOff = false, false
	}
}

// Data runs the message (CRLF line ends) through the filters still
// listening to the transaction, in order: each is told the header
// fields, the body and the end of the message, and sees the message as
// the filters before it edited it. The first reject, tempfail or
// discard ends the chain.
func (s *Session) Data(ctx context.Context, env *Envelope, msg []byte) *Result {
	res := &Result{Verdict: Accept, Message: msg}
	if s.discard != nil {
		res.Verdict, res.Filter, res.Reason = Discard, s.discard.Filter, s.discard.Reason
		return res
	}
	stopWatch := context.AfterFunc(ctx, s.cancel) // the message's deadline too
	defer stopWatch()
	env = new(*env) // filters may change the envelope for the next ones
	for _, l := range s.filters {
		if r := l.tempfailed(); r != nil {
			s.verdict(env, l, "error", r.Reason, time.Time{})
			return withMessage(r, msg)
		}
		if l.off || l.txOff {
			continue
		}
		start := time.Now()
		out, err := l.data(env, res.Message)
		if err != nil {
			if r := s.failure(env, l, "DATA", err); r != nil {
				return withMessage(r, msg)
			}
			continue
		}
		verdict := out.verdict.String()
		if out.verdict == Accept && out.quarantine {
			verdict = "quarantine"
		}
		s.c.log.Info("filter verdict", "id", env.QueueID, "filter", l.f.spec.Milter, "verdict", verdict,
			"reply", out.reply(), "edits", out.edits, "reason", out.reason, "ms", time.Since(start).Milliseconds())
		if s.c.onVerd != nil {
			s.c.onVerd(l.f.spec.Milter, verdict)
		}
		if out.verdict != Accept {
			res.Verdict, res.Code, res.Enhanced, res.Text = out.verdict, out.code, out.enhanced, out.text
			res.Filter, res.Reason = l.f.spec.Milter, out.reason
			return res
		}
		if out.msg != nil {
			res.Message = out.msg
		}
		res.Edits += out.edits
		if out.from != nil {
			res.From, env.From = out.from, *out.from
		}
		if out.rcpts != nil && !slices.Equal(out.rcpts, env.Rcpts) {
			res.Rcpts, env.Rcpts = out.rcpts, out.rcpts
		}
		if out.quarantine {
			res.Quarantine, res.Reason, res.Filter = true, out.reason, l.f.spec.Milter
		}
	}
	return res
}

func withMessage(r *Result, msg []byte) *Result {
	r.Message = msg
	return r
}

// step asks each filter still listening, in order; the first that does
// not say continue decides the stage.
func (s *Session) step(env *Envelope, stage string, ask func(*live) (*milter.Action, error)) *Result {
	if s.discard != nil {
		return nil // the message goes nowhere: nothing more to ask
	}
	for _, l := range s.filters {
		if r := l.tempfailed(); r != nil {
			return r
		}
		if l.off || l.txOff {
			continue
		}
		start := time.Now()
		act, err := ask(l)
		if err != nil {
			if r := s.failure(env, l, stage, err); r != nil {
				return r
			}
			continue
		}
		o, ok := stop(act, stage)
		if !ok {
			continue
		}
		s.verdict(env, l, o.verdict.String(), o.reason, start)
		switch o.verdict {
		case Accept:
			if stage == "connect" || stage == "HELO" {
				l.off = true
			} else {
				l.txOff = true
			}
		case Discard:
			s.discard = &Result{Verdict: Discard, Filter: l.f.spec.Milter, Reason: o.reason}
			return nil
		default:
			return &Result{Verdict: o.verdict, Code: o.code, Enhanced: o.enhanced, Text: o.text, Filter: l.f.spec.Milter, Reason: o.reason}
		}
	}
	return nil
}

// verdict logs and counts one filter's decision.
func (s *Session) verdict(env *Envelope, l *live, verdict, reason string, start time.Time) {
	args := []any{"id", env.QueueID, "filter", l.f.spec.Milter, "verdict", verdict, "reason", reason}
	if !start.IsZero() {
		args = append(args, "ms", time.Since(start).Milliseconds())
	}
	s.c.log.Info("filter verdict", args...)
	if s.c.onVerd != nil {
		s.c.onVerd(l.f.spec.Milter, verdict)
	}
}

// failure follows on_error for a filter that failed at stage: nil to go
// on without it ("accept"), else the tempfail to answer.
func (s *Session) failure(env *Envelope, l *live, stage string, err error) *Result {
	l.f.log(s.c, env, stage, err)
	if s.c.onVerd != nil {
		s.c.onVerd(l.f.spec.Milter, "error")
	}
	l.fail(err)
	return l.tempfailed()
}

// fail takes a filter that failed out of the conversation.
func (l *live) fail(err error) {
	if l.s != nil {
		l.s.Close()
	}
	l.inTx = false
	if l.f.spec.OnError == "accept" {
		l.off = true
		return
	}
	l.failed = err
}

// tempfailed is the reply for a filter that failed with on_error
// "tempfail": every later command that needs it is told to try later.
func (l *live) tempfailed() *Result {
	if l.failed == nil {
		return nil
	}
	return &Result{Verdict: TempFail, Code: 451, Enhanced: [3]int{4, 7, 1},
		Text: "Content filter unavailable, try again later", Filter: l.f.spec.Milter, Reason: l.failed.Error()}
}

func (f *milterFilter) log(c *Chain, env *Envelope, stage string, err error) {
	if f.spec.OnError == "accept" {
		c.log.Warn("filter failed, going on without it (on_error = \"accept\")", "id", env.QueueID, "filter", f.spec.Milter, "stage", stage, "err", err)
		return
	}
	c.log.Warn("filter failed, mail refused for now (on_error = \"tempfail\")", "id", env.QueueID, "filter", f.spec.Milter, "stage", stage, "err", err)
}

var errNoSession = errors.New("no milter session")

// maxChunk is the largest body chunk sent (milter's MILTER_CHUNK_SIZE).
const maxChunk = 65535

// data tells one filter the message, from DATA to its end, and returns
// its outcome.
func (l *live) data(env *Envelope, msg []byte) (*outcome, error) {
	s := l.s
	if s == nil {
		return nil, errNoSession
	}
	l.macros.Set(milter.MacroQueueId, env.QueueID)
	act, err := s.DataStart()
	if err != nil {
		return nil, err
	}
	if o, ok := stop(act, "DATA"); ok {
		return o, nil
	}
	h := parseHeader(msg)
	for _, fl := range h.fields {
		v := fl.value()
		if !s.ProtocolOption(milter.OptHeaderLeadingSpace) {
			v = strings.TrimLeft(v, " \t")
		}
		if act, err = s.HeaderField(fl.name, v, nil); err != nil {
			return nil, err
		}
		if o, ok := stop(act, "header"); ok {
			return o, nil
		}
		if s.Skip() {
			break
		}
	}
	if act, err = s.HeaderEnd(); err != nil {
		return nil, err
	}
	if o, ok := stop(act, "end of header"); ok {
		return o, nil
	}
	// The body in chunks of at most 64 KiB (every milter takes that), and
	// the end of the message only after the last: a refusal on a chunk
	// leaves the filter inside the message, to be aborted at Reset.
	body := h.body
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), maxChunk)
		if act, err = s.BodyChunk(body[:n]); err != nil {
			return nil, err
		}
		body = body[n:]
		if o, ok := stop(act, "body"); ok {
			return o, nil
		}
		if s.Skip() {
			break
		}
	}
	mods, act, err := s.End()
	if err != nil {
		return nil, err
	}
	l.inTx = false // the end of the message was said: the filter is ready for the next MAIL
	if o, ok := stop(act, "end of message"); ok && o.verdict != Accept {
		return o, nil
	}
	o := &outcome{verdict: Accept}
	env2 := envelopeEdits{rcpts: env.Rcpts}
	out, n, quarantine, err := apply(h, mods, &env2)
	if err != nil {
		return nil, err
	}
	o.from, o.rcpts = env2.from, env2.rcpts
	o.msg, o.edits = out, n
	if quarantine != nil {
		o.quarantine, o.reason = true, *quarantine
	}
	return o, nil
}
