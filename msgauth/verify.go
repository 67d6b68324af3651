package msgauth

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultTimeout    = 15 * time.Second
	DefaultMaxLookups = 120
	DefaultCacheTTL   = 2 * time.Minute
	defaultCacheSize  = 10000
)

// Options configures a Verifier.
type Options struct {
	// Hostname is Petrel's authserv-id: the first word of the
	// Authentication-Results fields it writes, and the id whose incoming
	// fields it removes.
	Hostname string
	// Resolver does the DNS lookups; nil means net.DefaultResolver. Use
	// NewNetResolver to send them to a configured server.
	Resolver Resolver
	// Policy applies to every message unless DomainPolicy has an entry for
	// one of its recipient domains. The zero Policy means DefaultPolicy().
	Policy Policy
	// DomainPolicy overrides Policy per local recipient domain; as for
	// Policy, a zero entry means DefaultPolicy().
	DomainPolicy map[string]Policy
	// Logger gets one line per message at Info and the details at Debug; nil
	// means slog.Default().
	Logger *slog.Logger
	// Timeout bounds the DNS work for one message; when it runs out the
	// checks still pending report temperror. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxLookups bounds the DNS lookups for one message, cached ones
	// included, on top of SPF's own limits. Zero means DefaultMaxLookups.
	MaxLookups int
	// CacheTTL is how long an answer or NXDOMAIN is remembered. Zero means
	// DefaultCacheTTL; negative disables the cache.
	CacheTTL time.Duration
}

// Verifier checks SPF, DKIM and DMARC on incoming mail. It is safe for
// concurrent use; its DNS cache is shared by all messages.
type Verifier struct {
	hostname     string
	resolver     Resolver
	policy       Policy
	domainPolicy map[string]Policy
	log          *slog.Logger
	timeout      time.Duration
	maxLookups   int
	sample       func(pct int) bool
}

// NewVerifier returns a Verifier for opts, with defaults for zero fields.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{
		hostname:     strings.TrimSuffix(opts.Hostname, "."),
		resolver:     opts.Resolver,
		policy:       opts.Policy,
		domainPolicy: make(map[string]Policy, len(opts.DomainPolicy)),
		log:          opts.Logger,
		timeout:      opts.Timeout,
		maxLookups:   opts.MaxLookups,
		sample:       randomSample,
	}
	if v.resolver == nil {
		v.resolver = net.DefaultResolver
	}
	if opts.CacheTTL >= 0 {
		ttl := opts.CacheTTL
		if ttl == 0 {
			ttl = DefaultCacheTTL
		}
		v.resolver = newCache(v.resolver, ttl, defaultCacheSize)
	}
	if v.policy == (Policy{}) {
		v.policy = DefaultPolicy()
	}
	for d, p := range opts.DomainPolicy {
		if p == (Policy{}) {
			p = DefaultPolicy()
		}
		v.domainPolicy[strings.ToLower(strings.TrimSuffix(d, "."))] = p
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.timeout <= 0 {
		v.timeout = DefaultTimeout
	}
	if v.maxLookups <= 0 {
		v.maxLookups = DefaultMaxLookups
	}
	return v
}

// Input is what the SMTP server knows about one incoming message.
type Input struct {
	RemoteIP net.IP
	Helo     string
	// MailFrom is the reverse-path without angle brackets; "" for the null
	// sender (bounces), in which case SPF checks the HELO name.
	MailFrom string
	// Message is the message as received, CRLF line endings, before any
	// header of ours is added.
	Message []byte
	// RcptDomains are the domains of the accepted recipients, to choose
	// DomainPolicy entries; the strictest applicable policy wins.
	RcptDomains []string
}

// Verdict is the outcome for one message.
type Verdict struct {
	// Header is our Authentication-Results field, folded, ending in CRLF,
	// to be prepended to the message (see Stamp).
	Header string
	// Action is what the policy makes of the results.
	Action Action
	// Reason explains Quarantine or Reject; for Reject the mta sends it in
	// its "550 5.7.1" reply. It holds no configuration.
	Reason string

	SPF   SPFOutcome
	DKIM  []DKIMOutcome
	DMARC []DMARCOutcome

	// Lookups is the number of DNS lookups made, cache hits included.
	Lookups int
	// Elapsed is the time Verify took.
	Elapsed time.Duration

	authservID string
}

// NoForward says the message fails DMARC for an author domain that
// publishes p=reject: let in by local policy, it is still never forwarded
// (a forward would carry a failing message to a receiver that rejects it,
// and bounce back to an innocent sender).
func (v *Verdict) NoForward() bool {
	for _, d := range v.DMARC {
		if d.Result == "fail" && d.Policy == "reject" {
			return true
		}
	}
	return false
}

// Stamp returns msg with our header first and every incoming
// Authentication-Results field claiming our authserv-id removed.
func (v *Verdict) Stamp(msg []byte) []byte {
	stripped := StripAuthResults(msg, v.authservID)
	out := make([]byte, 0, len(v.Header)+len(stripped))
	out = append(out, v.Header...)
	return append(out, stripped...)
}

// Summary is one line for logs, e.g.
// "spf=pass dkim=pass(example.com) dmarc=pass(example.com) action=accept".
func (v *Verdict) Summary() string {
	var b strings.Builder
	b.WriteString("spf=" + v.SPF.Result)
	if len(v.DKIM) == 0 {
		b.WriteString(" dkim=none")
	}
	for _, k := range v.DKIM {
		b.WriteString(" dkim=" + k.Result + "(" + k.Domain + ")")
	}
	if len(v.DMARC) == 0 {
		b.WriteString(" dmarc=none")
	}
	for _, d := range v.DMARC {
		b.WriteString(" dmarc=" + d.Result + "(" + d.Domain + ")")
	}
	b.WriteString(" action=" + v.Action.String())
	return b.String()
}

// LogValue makes a Verdict log as a compact group.
func (v *Verdict) LogValue() slog.Value {
	dkims := make([]string, len(v.DKIM))
	for i, k := range v.DKIM {
		dkims[i] = k.Domain + "=" + k.Result
	}
	dmarcs := make([]string, len(v.DMARC))
	for i, d := range v.DMARC {
		dmarcs[i] = d.String()
	}
	return slog.GroupValue(
		slog.String("action", v.Action.String()),
		slog.String("spf", v.SPF.Result),
		slog.String("spf_domain", v.SPF.Domain),
		slog.String("dkim", strings.Join(dkims, ",")),
		slog.String("dmarc", strings.Join(dmarcs, ",")),
		slog.Int("lookups", v.Lookups),
		slog.Duration("elapsed", v.Elapsed),
	)
}

// Verify checks SPF, DKIM and DMARC for one message and decides what to do
// with it. SPF, DKIM and the DMARC record lookups run concurrently, within
// the Verifier's timeout and lookup budget; a DNS failure becomes a
// temperror result, never an error. Verify returns an error only when ctx
// ends first (the caller should then answer 451 and drop the message).
func (v *Verifier) Verify(ctx context.Context, in Input) (*Verdict, error) {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	r := newBudget(v.resolver, v.maxLookups)

	authors := authorDomains(in.Message)
	var (
		wg      sync.WaitGroup
		spfOut  SPFOutcome
		dkimOut []DKIMOutcome
		records = make([]dmarcRecord, len(authors))
	)
	wg.Go(func() { spfOut = checkSPF(dctx, r, in.RemoteIP, in.Helo, in.MailFrom) })
	wg.Go(func() { dkimOut = verifyDKIM(dctx, r, in.Message) })
	for i, d := range authors {
		wg.Go(func() { records[i] = lookupDMARC(dctx, r, d) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msgauth: verifying message from %q: %w", in.MailFrom, err)
	}

	dmarcOut := make([]DMARCOutcome, len(records))
	for i, rec := range records {
		dmarcOut[i] = rec.evaluate(spfOut, dkimOut, v.sample)
	}
	action, reason := strictest(v.domainPolicy, v.policy, in.RcptDomains, spfOut, dmarcOut)
	verdict := &Verdict{
		Header:     formatHeader(v.hostname, spfOut, dkimOut, dmarcOut),
		Action:     action,
		Reason:     reason,
		SPF:        spfOut,
		DKIM:       dkimOut,
		DMARC:      dmarcOut,
		Lookups:    int(r.used.Load()),
		Elapsed:    time.Since(start),
		authservID: v.hostname,
	}
	v.log.LogAttrs(ctx, slog.LevelInfo, "msgauth verdict",
		slog.String("ip", in.RemoteIP.String()),
		slog.String("mail_from", in.MailFrom),
		slog.Any("verdict", verdict))
	if v.log.Enabled(ctx, slog.LevelDebug) {
		v.logDetails(ctx, verdict)
	}
	return verdict, nil
}

// logDetails logs the reasons behind each result that was not a pass.
func (v *Verifier) logDetails(ctx context.Context, vd *Verdict) {
	if vd.SPF.Err != nil {
		v.log.DebugContext(ctx, "msgauth spf", "result", vd.SPF.Result, "domain", vd.SPF.Domain, "err", vd.SPF.Err)
	}
	for _, k := range vd.DKIM {
		if k.Err != nil {
			v.log.DebugContext(ctx, "msgauth dkim", "result", k.Result, "domain", k.Domain, "err", k.Err)
		}
	}
	for _, d := range vd.DMARC {
		if d.Err != nil {
			v.log.DebugContext(ctx, "msgauth dmarc", "result", d.Result, "domain", d.Domain, "err", d.Err)
		}
	}
}
