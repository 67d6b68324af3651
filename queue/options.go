package queue

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"petrel/dnsmx"
)

// MXResolver finds the mail servers of a domain in delivery order.
// *dnsmx.Resolver satisfies it; errors with a Temporary() bool method that
// returns true are retried, all others bounce.
type MXResolver interface {
	LookupMX(ctx context.Context, domain string) ([]dnsmx.MX, error)
}

// LocalDeliverer stores a message in a local mailbox. The queue uses it for
// recipients whose domain IsLocal: DSNs to local senders. A nil error means
// the message is durable. An *smtp.SMTPError with a 5xx code, or an error
// with a Temporary() method that returns false, bounces; any other error is
// retried on the backoff schedule.
type LocalDeliverer interface {
	DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error
}

var _ MXResolver = (*dnsmx.Resolver)(nil)

// DefaultRetry returns the default backoff schedule: the n-th retry waits
// Retry[n-1], and the last step repeats (so every 4h after the seventh).
func DefaultRetry() []time.Duration {
	return []time.Duration{
		time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour,
	}
}

// Options configures a Queue. Only Path, Hostname and Resolver (or
// RelayHost) are required.
type Options struct {
	Path string // the queue's bbolt file (unless Shared)
	// Shared, if set, keeps the queue in a database several nodes share
	// instead of Path (queue/pgqueue); Lease is how long a node's claim
	// on a delivery lasts unless renewed (0 means 2 minutes): a node
	// that dies holds its deliveries that long.
	Shared   Shared
	Lease    time.Duration
	Hostname string // for EHLO, DSNs and Message-IDs
	Resolver MXResolver
	Local    LocalDeliverer
	// NewLocal, when set, makes the LocalDeliverer from the queue itself,
	// in Open, before the queue runs: for a deliverer that queues mail
	// in turn (the MTA, which forwards and expands lists), so that the
	// cycle queue → local delivery → MTA → queue is closed in one
	// constructor call, not by a field set later. It replaces Local.
	NewLocal func(*Queue) (LocalDeliverer, error)
	IsLocal  func(domain string) bool // domains delivered through Local
	Logger   *slog.Logger

	Port  int             // destination port; 0 means 25 (tests use another)
	Retry []time.Duration // backoff schedule; nil means DefaultRetry
	// Jitter adds up to this fraction of each delay at random (default
	// 0.1), so that messages deferred together do not retry together.
	// Negative disables it.
	Jitter       float64
	MaxAge       time.Duration // give up after this; 0 means 5 days
	DelayWarning time.Duration // warn the sender after this; 0 means 4h, negative never
	// KeepFinished is how long a message stays, retired (Item.Finished),
	// after its last recipient was delivered or failed; 0 removes it at
	// once. Run removes the retired entries whose time is up.
	KeepFinished time.Duration

	// RelayHost ("host:port") receives all outbound mail instead of the MX
	// hosts (a smarthost), with AUTH PLAIN when RelayUser is set.
	RelayHost                string
	RelayUser, RelayPassword string
	// FallbackRelay ("host:port") is tried when every MX host of a
	// destination failed temporarily.
	FallbackRelay string

	DialTimeout    time.Duration // 0 means 30s
	CommandTimeout time.Duration // per SMTP command; 0 means 5 min (RFC 5321 section 4.5.3.2)
	DataTimeout    time.Duration // for the reply after the final dot; 0 means 10 min
	// TLSConfig is cloned for STARTTLS; its RootCAs decide what verifies.
	// nil means the system roots.
	TLSConfig *tls.Config

	PerDomain int // concurrent deliveries per destination domain; 0 means 20
	Global    int // concurrent deliveries in all; 0 means 100

	// OnAttempt, if set, is told the result of every delivery attempt,
	// once per attempt per destination domain (all the MX hosts tried for
	// it, or the local deliveries): AttemptDelivered, AttemptTemporary or
	// AttemptPermanent. It is called before the outcome is recorded, on
	// the delivery's goroutine, and must not block (it is for metrics).
	OnAttempt func(result string)
}

// The results OnAttempt is given.
const (
	AttemptDelivered = "delivered" // every recipient accepted the message
	AttemptTemporary = "temporary" // some recipient deferred; it will be retried
	AttemptPermanent = "permanent" // none deferred, some refused for good
)

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Port == 0 {
		o.Port = 25
	}
	if len(o.Retry) == 0 {
		o.Retry = DefaultRetry()
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	if o.MaxAge == 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if o.DelayWarning == 0 {
		o.DelayWarning = 4 * time.Hour
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.DataTimeout == 0 {
		o.DataTimeout = 10 * time.Minute
	}
	if o.PerDomain <= 0 {
		o.PerDomain = 20
	}
	if o.Global <= 0 {
		o.Global = 100
	}
	if o.IsLocal == nil {
		o.IsLocal = func(string) bool { return false }
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
}
