package filter

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// Port names, as the ports key of [[filter]] writes them.
const (
	PortSMTP       = "smtp"       // port 25, mail from other servers
	PortSubmission = "submission" // 587 and 465, users' own mail
)

// Spec is one [[filter]] entry of the configuration.
type Spec struct {
	// Milter is where the filter listens: "inet:host:port" or
	// "unix:/path/to/socket".
	Milter string
	// OnError is what happens when the filter cannot be reached or fails:
	// "tempfail" (the default; the client is told 451 4.7.1 and retries
	// later) or "accept" (the filter is skipped).
	OnError string
	// Timeout bounds the connection and every reply of the filter (0 =
	// 30s). Scanners of large attachments need more than that.
	Timeout time.Duration
	// Ports are the listeners whose mail the filter sees: "smtp",
	// "submission" (empty = "smtp" only).
	Ports []string
}

// ParseAddress splits a milter address into the network and address
// net.Dial takes: "inet:127.0.0.1:11332" gives ("tcp", "127.0.0.1:11332"),
// "inet6:[::1]:11332" ("tcp", "[::1]:11332"), "unix:/run/x.sock" ("unix",
// "/run/x.sock"). Postfix's "inet:host:port" and Sendmail's
// "inet:port@host" forms are both accepted.
func ParseAddress(s string) (network, address string, err error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("milter address %q: want \"inet:host:port\" or \"unix:/path\"", s)
	}
	switch strings.ToLower(kind) {
	case "unix", "local":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("milter address %q: a unix socket needs an absolute path", s)
		}
		return "unix", rest, nil
	case "inet", "inet6", "tcp":
		if port, host, ok := strings.Cut(rest, "@"); ok { // Sendmail's port@host
			rest = net.JoinHostPort(strings.Trim(host, "[]"), port)
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil || host == "" || port == "" {
			return "", "", fmt.Errorf("milter address %q: want \"inet:host:port\"", s)
		}
		return "tcp", net.JoinHostPort(host, port), nil
	}
	return "", "", fmt.Errorf("milter address %q: unknown kind %q (want inet: or unix:)", s, kind)
}

// Verdict is what the filters decided about a message.
type Verdict int

const (
	Accept   Verdict = iota // deliver (to Junk if Result.Quarantine)
	Reject                  // refuse with Result's 5xx
	TempFail                // refuse with Result's 4xx
	Discard                 // say 250, deliver nowhere
)

func (v Verdict) String() string {
	switch v {
	case Reject:
		return "reject"
	case TempFail:
		return "tempfail"
	case Discard:
		return "discard"
	}
	return "accept"
}

// Envelope is what the SMTP session knows of the transaction.
type Envelope struct {
	QueueID    string // the message's ID, macro i
	Port       string // PortSMTP or PortSubmission
	Hostname   string // this server's name, macro j
	ClientIP   net.IP
	ClientPort int
	ClientName string // its reverse DNS name, "" or "unknown" if none
	LocalIP    net.IP // the address the client connected to, macro {if_addr}
	Helo       string
	TLSVersion string // "TLSv1.3", "" without TLS
	TLSCipher  string
	TLSBits    int
	AuthUser   string // the authenticated user, "" if none
	AuthMech   string
	From       string   // envelope sender, "" for the null sender
	Rcpts      []string // accepted recipients
	// LocalRcpt says whether a recipient is delivered here ({rcpt_mailer}
	// "local") or relayed ("smtp"); nil: all "local".
	LocalRcpt func(rcpt string) bool
}

// Result is the verdict of a Chain on one message.
type Result struct {
	Verdict Verdict
	// The reply for Reject and TempFail: code, enhanced status, text.
	Code     int
	Enhanced [3]int
	Text     string
	// Quarantine says a filter asked to hold the message: it is delivered
	// to the recipients' Junk mailbox.
	Quarantine bool
	Reason     string // the quarantine reason, or what decided the verdict
	// Message is the message after the filters' edits; the input itself
	// when none edited it. A replaced body may have bare LF line ends.
	Message []byte
	// Filter is the filter that decided a verdict other than Accept, or
	// that quarantined.
	Filter string
	// Edits counts the changes applied.
	Edits int
	// From is the envelope sender a filter set, nil if none did.
	From *string
	// Rcpts are the recipients after filters added and removed some; nil
	// when none did.
	Rcpts []string
}

// Options configure a Chain.
type Options struct {
	Logger *slog.Logger
	// OnVerdict is called once per filter and message with the filter's
	// address and its verdict: "accept", "reject", "tempfail", "discard",
	// "quarantine" or "error" (for metrics); may be nil.
	OnVerdict func(filter, verdict string)
}

// Chain runs the configured filters in order. It is safe for concurrent
// use; every message gets its own connection to each filter.
type Chain struct {
	filters []*milterFilter
	log     *slog.Logger
	onVerd  func(filter, verdict string)
}

// New checks the specs and returns their Chain (nil specs: a Chain that
// accepts everything). Nothing is dialled until a message comes.
func New(specs []Spec, opts Options) (*Chain, error) {
	c := &Chain{log: opts.Logger, onVerd: opts.OnVerdict}
	if c.log == nil {
		c.log = slog.Default()
	}
	for i, s := range specs {
		f, err := newMilterFilter(s)
		if err != nil {
			return nil, fmt.Errorf("filter %d: %w", i+1, err)
		}
		c.filters = append(c.filters, f)
	}
	return c, nil
}

// Len is the number of filters.
func (c *Chain) Len() int { return len(c.filters) }

// Applies reports whether any filter sees the mail of port.
func (c *Chain) Applies(port string) bool {
	for _, f := range c.filters {
		if slices.Contains(f.spec.Ports, port) {
			return true
		}
	}
	return false
}

// Check runs one whole transaction through every filter of env.Port at
// once, stage after stage (connect, HELO, MAIL, each of env.Rcpts, then
// the message, CRLF line ends), for a caller that has the message before
// it talks to the filters: the first refusal at any stage, a refused
// recipient included, ends it with that verdict. The SMTP server asks
// them live instead (Open). One log line per filter verdict names the
// queue ID.
func (c *Chain) Check(ctx context.Context, env *Envelope, msg []byte) *Result {
	s := c.Open(ctx, env)
	if s == nil {
		return &Result{Verdict: Accept, Message: msg}
	}
	defer s.Close()
	stages := []func() *Result{
		func() *Result { return s.Connect(env) },
		func() *Result { return s.Helo(env) },
		func() *Result { return s.Mail(env) },
	}
	for _, r := range env.Rcpts {
		stages = append(stages, func() *Result { return s.Rcpt(env, r) })
	}
	for _, st := range stages {
		if r := st(); r != nil {
			return withMessage(r, msg)
		}
	}
	return s.Data(ctx, env, msg)
}
