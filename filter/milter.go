package filter

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	milter "github.com/d--j/go-milter"
)

// milterFilter is one [[filter]] entry: a milter client.
type milterFilter struct {
	spec          Spec
	network, addr string
	opts          []milter.Option
}

// actions are the modifications Petrel offers filters, all of which it
// honours: header and body edits, quarantine, recipients added and
// removed, a new envelope sender, and the filter's choice of macros
// (SMFIF_SETSYMLIST). rspamd asks for all but the last two.
const actions = milter.AllClientSupportedActionMasks

// The macros sent at each stage, unless the filter asks for others when
// the session is negotiated (rspamd and clamav-milter do not).
var (
	connectMacros = []milter.MacroName{milter.MacroMTAVersion, milter.MacroMTAFQDN, milter.MacroDaemonName,
		milter.MacroIfAddr, milter.MacroDaemonAddr, milter.MacroDaemonPort, milter.MacroClientAddr,
		milter.MacroClientPort, milter.MacroClientName, milter.MacroClientPTR}
	heloMacros = []milter.MacroName{milter.MacroTlsVersion, milter.MacroCipher, milter.MacroCipherBits}
	mailMacros = []milter.MacroName{milter.MacroQueueId, milter.MacroAuthType, milter.MacroAuthAuthen,
		milter.MacroAuthSsf, milter.MacroMailMailer, milter.MacroMailHost, milter.MacroMailAddr}
	rcptMacros = []milter.MacroName{milter.MacroQueueId, milter.MacroRcptMailer, milter.MacroRcptHost, milter.MacroRcptAddr}
	idMacros   = []milter.MacroName{milter.MacroQueueId}
)

func newMilterFilter(s Spec) (*milterFilter, error) {
	network, addr, err := ParseAddress(s.Milter)
	if err != nil {
		return nil, err
	}
	switch s.OnError {
	case "":
		s.OnError = "tempfail"
	case "tempfail", "accept":
	default:
		return nil, fmt.Errorf("%s: on_error = %q: want \"tempfail\" or \"accept\"", s.Milter, s.OnError)
	}
	if s.Timeout <= 0 {
		s.Timeout = 30 * time.Second
	}
	if len(s.Ports) == 0 {
		s.Ports = []string{PortSMTP}
	}
	for _, p := range s.Ports {
		if p != PortSMTP && p != PortSubmission {
			return nil, fmt.Errorf("%s: ports: %q is not a port name (want \"smtp\" or \"submission\")", s.Milter, p)
		}
	}
	opts := []milter.Option{
		milter.WithReadTimeout(s.Timeout),
		milter.WithWriteTimeout(s.Timeout),
		milter.WithActions(actions),
		milter.WithoutDefaultMacros(),
		milter.WithMacroRequest(milter.StageConnect, connectMacros),
		milter.WithMacroRequest(milter.StageHelo, heloMacros),
		milter.WithMacroRequest(milter.StageMail, mailMacros),
		milter.WithMacroRequest(milter.StageRcpt, rcptMacros),
		milter.WithMacroRequest(milter.StageData, idMacros),
		milter.WithMacroRequest(milter.StageEOH, idMacros),
		milter.WithMacroRequest(milter.StageEOM, idMacros),
	}
	return &milterFilter{spec: s, network: network, addr: addr, opts: opts}, nil
}

// connDialer dials one filter connection with the message's context and
// keeps it, so that the end of that context closes it: go-milter's own
// timeouts bound each packet, the context the whole conversation.
type connDialer struct {
	ctx     context.Context
	timeout time.Duration
	mu      sync.Mutex
	conn    net.Conn
}

func (d *connDialer) Dial(network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	c, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return c, nil
}

func (d *connDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
	}
}

// outcome is one filter's verdict on one message.
type outcome struct {
	verdict    Verdict
	code       int
	enhanced   [3]int
	text       string
	quarantine bool
	reason     string
	msg        []byte
	edits      int
	from       *string  // a new envelope sender
	rcpts      []string // the recipients after the filter's changes
}

func (o *outcome) reply() string {
	if o.verdict != Reject && o.verdict != TempFail {
		return ""
	}
	return fmt.Sprintf("%d %d.%d.%d %s", o.code, o.enhanced[0], o.enhanced[1], o.enhanced[2], o.text)
}

// stop turns a milter action other than continue into the outcome;
// ok is false for continue.
func stop(act *milter.Action, stage string) (*outcome, bool) {
	switch act.Type {
	case milter.ActionContinue:
		return nil, false
	case milter.ActionAccept:
		return &outcome{verdict: Accept, reason: "accepted at " + stage}, true
	case milter.ActionDiscard:
		return &outcome{verdict: Discard, reason: "discarded at " + stage}, true
	case milter.ActionReject, milter.ActionTempFail, milter.ActionRejectWithCode:
		code, enh, text := ParseReply(act.SMTPReply)
		o := &outcome{verdict: Reject, code: code, enhanced: enh, text: text, reason: "refused at " + stage}
		if code < 500 {
			o.verdict = TempFail
		}
		return o, true
	}
	// Skip (only after a header or body chunk, where go-milter handles
	// it) and anything new: go on.
	return nil, false
}

func setConnectMacros(m *milter.MacroBag, env *Envelope) {
	m.Set(milter.MacroMTAVersion, "Petrel")
	m.Set(milter.MacroMTAFQDN, env.Hostname)
	m.Set(milter.MacroDaemonName, "petrel-"+env.Port)
	if env.LocalIP != nil {
		m.Set(milter.MacroIfAddr, env.LocalIP.String())
		m.Set(milter.MacroDaemonAddr, env.LocalIP.String())
	}
	if env.ClientIP != nil {
		m.Set(milter.MacroClientAddr, env.ClientIP.String())
		m.Set(milter.MacroClientPort, strconv.Itoa(env.ClientPort))
	}
	name := env.ClientName
	if name == "" {
		name = "unknown"
	}
	m.Set(milter.MacroClientName, name)
	m.Set(milter.MacroClientPTR, name)
	if env.TLSVersion != "" {
		m.Set(milter.MacroTlsVersion, env.TLSVersion)
		m.Set(milter.MacroCipher, env.TLSCipher)
		m.Set(milter.MacroCipherBits, strconv.Itoa(env.TLSBits))
	}
	m.Set(milter.MacroQueueId, env.QueueID)
}

func setMailMacros(m *milter.MacroBag, env *Envelope) {
	if env.AuthUser != "" {
		m.Set(milter.MacroAuthAuthen, env.AuthUser)
		m.Set(milter.MacroAuthType, env.AuthMech)
		if env.TLSBits > 0 {
			m.Set(milter.MacroAuthSsf, strconv.Itoa(env.TLSBits))
		}
	}
	m.Set(milter.MacroMailMailer, "esmtp")
	m.Set(milter.MacroMailAddr, env.From)
	if _, d, ok := strings.Cut(env.From, "@"); ok {
		m.Set(milter.MacroMailHost, d)
	}
}

func setRcptMacros(m *milter.MacroBag, env *Envelope, rcpt string) {
	mailer := "local"
	if env.LocalRcpt != nil && !env.LocalRcpt(rcpt) {
		mailer = "smtp"
	}
	m.Set(milter.MacroRcptMailer, mailer)
	m.Set(milter.MacroRcptAddr, rcpt)
	_, d, _ := strings.Cut(rcpt, "@")
	m.Set(milter.MacroRcptHost, d)
}

// ParseReply splits an SMTP reply a filter gave ("554 5.7.1 Gtube
// pattern", possibly several lines "550-5.7.1 a\r\n550 5.7.1 b") into its
// code, enhanced status and text. A reply without a valid code is 550; a
// missing enhanced status is X.7.1 of the code's class.
func ParseReply(s string) (code int, enh [3]int, text string) {
	var lines []string
	for i, line := range strings.Split(strings.ReplaceAll(strings.TrimRight(s, "\r\n"), "\r\n", "\n"), "\n") {
		c, rest := 0, line
		if len(line) >= 3 {
			if n, err := strconv.Atoi(line[:3]); err == nil && n >= 400 && n <= 599 {
				c, rest = n, line[3:]
				if rest != "" && rest[0] != ' ' && rest[0] != '-' {
					c, rest = 0, line
				} else if rest != "" {
					rest = rest[1:]
				}
			}
		}
		if i == 0 {
			code = c
		}
		if e, after, ok := parseEnhanced(rest); ok {
			if i == 0 {
				enh = e
			}
			rest = after
		}
		lines = append(lines, strings.Map(printable, rest))
	}
	if code == 0 {
		code = 550
	}
	if enh[0] != code/100 {
		enh = [3]int{code / 100, 7, 1}
	}
	text = strings.TrimSpace(strings.Join(lines, "\n"))
	if text == "" {
		text = "Message refused by a content filter"
	}
	return code, enh, text
}

// parseEnhanced reads "5.7.1 " at the start of s (RFC 3463: class 2, 4 or
// 5, subject and detail of up to three digits).
func parseEnhanced(s string) (enh [3]int, rest string, ok bool) {
	word, after, _ := strings.Cut(s, " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 {
		return enh, s, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || p == "" || len(p) > 3 || n < 0 {
			return enh, s, false
		}
		enh[i] = n
	}
	if enh[0] != 4 && enh[0] != 5 && enh[0] != 2 {
		return [3]int{}, s, false
	}
	return enh, after, true
}

// printable drops control characters from a filter's reply text, which
// goes to the client as is.
func printable(r rune) rune {
	if r < 0x20 && r != '\t' || r == 0x7f {
		return -1
	}
	return r
}
