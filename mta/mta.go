package mta

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/authlimit"
	"petrel/dnsbl"
	"petrel/netlimit"
)

// Queue takes messages for remote recipients. Enqueue returns once the
// message is durably queued.
type Queue interface {
	Enqueue(ctx context.Context, from string, rcpts []string, msg []byte) (id string, err error)
}

// CheckInput is what the incoming-mail checker is told of a message.
type CheckInput struct {
	RemoteIP net.IP
	Helo     string
	MailFrom string
	Message  []byte
	// RcptDomains are the domains of the accepted recipients.
	RcptDomains []string
}

// CheckResult is the checker's verdict on a message from port 25.
type CheckResult struct {
	// Header is prepended to the stored message (Authentication-Results).
	Header []byte
	// Message, when not nil, replaces the input message (with forged
	// Authentication-Results headers removed, say).
	Message []byte
	Reject  bool   // refuse with 550 5.7.1 Reason
	Junk    bool   // deliver to the Junk mailbox
	Reason  string // for the reply and the log
	Summary string // one line for the log, e.g. "spf=pass dkim=none dmarc=none"
	// NoForward says the message failed DMARC for a domain whose policy
	// is p=reject (and was let in by local policy): it may reach local
	// mailboxes, never another domain through an alias or a list.
	NoForward bool
	// NoBounce says the envelope sender failed SPF, or its domain's DMARC
	// failed: it may well be forged, so no DSN goes to it, and a forward
	// goes from the null sender so that none comes back to it either.
	NoBounce bool
}

// Checker verifies incoming mail (SPF, DKIM, DMARC).
type Checker interface {
	Check(ctx context.Context, in CheckInput) (*CheckResult, error)
}

// Signer DKIM-signs outgoing mail of a domain; it returns msg unchanged
// when it has no key for the domain.
type Signer interface {
	Sign(domain string, msg []byte) ([]byte, error)
}

// SRS rewrites the envelope sender of forwarded mail and decodes the
// rewritten addresses bounces come back to (*srs.Rewriter is one).
type SRS interface {
	Forward(sender, domain string) (string, error)
	Reverse(addr string) (string, error)
}

// Failure is a recipient refused after DATA, when the message was
// accepted for others (a forward that may not be made).
type Failure struct {
	Rcpt  string
	Reply *smtp.SMTPError // the SMTP reply it would have had

	dmarc bool // the message's DMARC failure, not the recipient, is why
}

// Status is the reply's enhanced status code, as a DSN's Status field
// has it: "5.4.6".
func (f Failure) Status() string {
	c := f.Reply.EnhancedCode
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// String is the whole reply, as a DSN's Diagnostic-Code has it.
func (f Failure) String() string {
	return fmt.Sprintf("%d %s %s", f.Reply.Code, f.Status(), f.Reply.Message)
}

// Bouncer sends the envelope sender a delivery status notification about
// failed recipients of the message msg, accepted as id.
type Bouncer interface {
	Bounce(ctx context.Context, id, from string, failed []Failure, msg []byte) error
}

// BatchQueue is a Queue that also commits many single-recipient messages
// at once (a list's copies for remote members, each with its own
// List-Unsubscribe); *queue.Queue is one. Without it, they are queued one
// Enqueue at a time.
type BatchQueue interface {
	EnqueueEach(ctx context.Context, from string, rcpts []string, msgs [][]byte) ([]string, error)
}

// PTRResolver looks up reverse DNS names; *net.Resolver is one.
type PTRResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Options configure an MTA. Store and IsLocalDomain are required.
type Options struct {
	Hostname      string
	IsLocalDomain func(domain string) bool
	Store         Store
	Queue         Queue       // nil: remote recipients are refused
	Checker       Checker     // nil: incoming mail is not verified
	Signer        Signer      // nil: outgoing mail is not signed
	Filters       Filters     // nil: no content filters
	Reputation    Reputation  // nil: no DNSBL/DNSWL checks
	Resolver      PTRResolver // nil: no reverse lookups
	TLSConfig     *tls.Config
	Logger        *slog.Logger
	AuthLimiter   *authlimit.Limiter // nil: a default one

	MaxMessageBytes int64         // 0 = 50 MiB
	MaxRecipients   int           // 0 = 1000
	MaxLineLength   int           // 0 = 4096
	CommandTimeout  time.Duration // 0 = 5 min
	DataTimeout     time.Duration // 0 = 10 min
	MaxErrors       int           // 0 = 20
	PlusSeparator   string        // "" = no plus-addressing

	// Message data is spooled (spool.go): in memory up to SpoolThreshold
	// bytes a message (0 = 1 MiB), then in a nameless temporary file in
	// SpoolDir ("" = the system's); all sessions together hold at most
	// MaxDataMemory bytes of it in memory (0 = 256 MiB).
	SpoolThreshold int64
	SpoolDir       string
	MaxDataMemory  int64

	// Postmaster takes the mail to postmaster@ and abuse@ of every local
	// domain (and to "postmaster" alone) that no account or alias of that
	// name takes: an address of a local domain. "" = the account made
	// first.
	Postmaster string
	// SaveSent files a copy of every message submitted on 587/465 in the
	// sender's Sent mailbox, flagged \Seen, in the same commit as the local
	// copies. Off by default: most clients APPEND their own copy.
	SaveSent bool

	// SRS rewrites the envelope sender of mail forwarded to another
	// domain (an alias with a remote target), and verifies and decodes
	// the SRS addresses of ours that its bounces come back to. nil:
	// forwards keep the original sender (and may fail SPF).
	SRS SRS
	// Bouncer reports recipients refused after DATA (a forward that may
	// not be made, when others took the message) to the sender, unless
	// the sender failed SPF or DMARC (CheckResult.NoBounce); nil: they are
	// only logged. Loops and lists' refusals never come here: they refuse
	// the whole message at DATA.
	Bouncer Bouncer
	// UnsubscribeURL returns the one-click unsubscribe URL (RFC 8058) of
	// a list member; nil: list mail has no List-Unsubscribe.
	UnsubscribeURL func(list, member string) string
	// ListBounceDays is the number of days with a bounce after which a
	// list member is disabled, and told (0 = 3).
	ListBounceDays int

	// Junk, if set, judges every message for the local accounts it is
	// delivered to, before it is filed (junk.go); nil files all in INBOX.
	Junk JunkFilter

	// Now is the clock for Received dates (tests); nil = time.Now.
	Now func() time.Time

	// Hooks for metrics; any may be nil.
	OnTransaction func(result string)     // "accepted", "rejected", "tempfail"
	OnDelivered   func(n int, size int64) // n local copies stored of a message of size bytes
	OnAuthFailure func()
	OnReputation  func(verdict string) // a listed host: "refused-connect", "refused-rcpt", "junk"
	OnOverQuota   func(where string)   // a recipient refused for its quota: "smtp-rcpt", "smtp-data"
}

// MTA serves SMTP listeners. It is safe for concurrent use.
type MTA struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	servers []*server

	budget   *memBudget   // memory for message data, all sessions
	inFlight atomic.Int64 // bytes of message data received and not yet done with
}

// New returns an MTA; call ServeSMTP and ServeSubmission with listeners.
func New(opts Options) *MTA {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 50 << 20
	}
	if opts.MaxRecipients <= 0 {
		opts.MaxRecipients = 1000
	}
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = 4096
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.DataTimeout <= 0 {
		opts.DataTimeout = 10 * time.Minute
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 20
	}
	if opts.AuthLimiter == nil {
		opts.AuthLimiter = authlimit.New(authlimit.Options{})
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ListBounceDays <= 0 {
		opts.ListBounceDays = 3
	}
	if opts.SpoolThreshold <= 0 {
		opts.SpoolThreshold = 1 << 20
	}
	if opts.MaxDataMemory <= 0 {
		opts.MaxDataMemory = 256 << 20
	}
	return &MTA{opts: opts, log: opts.Logger, budget: newMemBudget(opts.MaxDataMemory)}
}

// DataInFlight is the number of bytes of message data that sessions have
// received and not yet stored or refused (spooled in memory or on disk).
func (m *MTA) DataInFlight() int64 { return m.inFlight.Load() }

// kind is what a listener is for.
type kind int

const (
	kindMX         kind = iota // port 25: mail from other servers
	kindSubmission             // 587/465: authenticated users
)

func (k kind) String() string {
	if k == kindMX {
		return "smtp"
	}
	return "submission"
}

func (m *MTA) newServer(k kind) *server {
	s := newServer(m, k)
	m.mu.Lock()
	m.servers = append(m.servers, s)
	m.mu.Unlock()
	return s
}

// ServeSMTP serves port 25 (MX) on l until Shutdown.
func (m *MTA) ServeSMTP(l net.Listener) error {
	if m.opts.Reputation != nil && m.opts.Reputation.Action() == dnsbl.RefuseConnect {
		l = reputationListener{Listener: l, m: m}
	}
	return m.newServer(kindMX).serve(timeoutListener{l})
}

// ServeSubmission serves message submission (RFC 6409) on l: a plain
// listener offers STARTTLS (port 587), a tls.Listener is implicit TLS (465).
func (m *MTA) ServeSubmission(l net.Listener) error {
	return m.newServer(kindSubmission).serve(timeoutListener{l})
}

// ServeSubmissionTLS serves submission with implicit TLS (port 465) on the
// plain listener l, with cfg: the TLS layer is made here, over the
// connection that makes a read timeout final (timeout.go).
func (m *MTA) ServeSubmissionTLS(l net.Listener, cfg *tls.Config) error {
	return m.newServer(kindSubmission).serve(tls.NewListener(timeoutListener{l}, noTickets(cfg)))
}

// noTickets returns cfg with TLS session tickets off (nil stays nil), in
// the configurations GetConfigForClient hands out too. Mail from
// outlook.com fails in STARTTLS against Go's TLS server when they are on
// (golang/go#70232; mox, chasquid and maddy turned them off as well), and
// SMTP, one long session per message, gains little from resumption.
func noTickets(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	c := cfg.Clone()
	c.SessionTicketsDisabled = true
	if get := cfg.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(h)
			if cc != nil {
				cc = cc.Clone()
				cc.SessionTicketsDisabled = true
			}
			return cc, err
		}
	}
	return c
}

// Shutdown stops accepting connections and waits (until ctx ends) for the
// transactions in flight to finish, then closes what is left.
func (m *MTA) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	servers := append([]*server(nil), m.servers...)
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.shutdown(ctx)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// RejectBusy writes SMTP's "too busy" reply, 421 with the reason, on
// a connection refused by a connection limit (netlimit's reject function).
func RejectBusy(c net.Conn, why error) { netlimit.Reject(c, "421", why) } // before EHLO: no enhanced code (RFC 2034)
