package dnsmx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks one recursive resolver (or those of /etc/resolv.conf, in
// order) and caches the answers. It is safe for concurrent use.
type Resolver struct {
	servers  []string // host:port
	timeout  time.Duration
	attempts int
	now      func() time.Time
	cache    *cache
}

// Option changes a Resolver made by New.
type Option func(*Resolver)

// WithTimeout sets how long one query waits for an answer (default 5s).
func WithTimeout(d time.Duration) Option { return func(r *Resolver) { r.timeout = d } }

// WithAttempts sets how many times each server is asked before giving up
// (default 2).
func WithAttempts(n int) Option { return func(r *Resolver) { r.attempts = max(n, 1) } }

// WithClock replaces time.Now for the cache, for tests of expiry.
func WithClock(now func() time.Time) Option { return func(r *Resolver) { r.now = now } }

// WithCacheSize bounds the number of cached answers (default 10000; 0
// disables the cache).
func WithCacheSize(n int) Option { return func(r *Resolver) { r.cache.max = n } }

// New returns a resolver that asks server ("host:port", or "host" for port
// 53). With server "", the nameservers of /etc/resolv.conf are used.
func New(server string, opts ...Option) (*Resolver, error) {
	r := &Resolver{timeout: 5 * time.Second, attempts: 2, now: time.Now, cache: newCache(10000)}
	for _, o := range opts {
		o(r)
	}
	if server != "" {
		if _, _, err := net.SplitHostPort(server); err != nil {
			server = net.JoinHostPort(server, "53")
		}
		r.servers = []string{server}
		return r, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("dnsmx: read resolv.conf: %w", err)
	}
	for _, s := range conf.Servers {
		r.servers = append(r.servers, net.JoinHostPort(s, conf.Port))
	}
	if len(r.servers) == 0 {
		return nil, errors.New("dnsmx: no nameserver in /etc/resolv.conf")
	}
	return r, nil
}

// maxCNAME bounds a CNAME chain, as resolvers do (BIND allows 16 in a
// response; 8 is plenty for mail hosts).
const maxCNAME = 8

// answer is the outcome of one question, after CNAMEs are followed.
type answer struct {
	rrs []dns.RR // records of the asked type, owned by the chain's last name
	ttl uint32   // smallest TTL along the way (negative TTL for NODATA)
}

// lookup asks for name/qtype and follows CNAMEs, inside the answer first and
// with new questions when the resolver stopped at a CNAME. A name without
// records of that type (NODATA) gives an empty answer and no error.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (answer, error) {
	name = dns.Fqdn(strings.ToLower(name))
	seen := map[string]bool{}
	var ttl uint32 = 1<<32 - 1
	for range maxCNAME {
		if seen[name] {
			break
		}
		seen[name] = true
		a, next, err := r.query(ctx, name, qtype)
		if err != nil {
			return answer{}, err
		}
		ttl = min(ttl, a.ttl)
		if next == "" {
			a.ttl = ttl
			return a, nil
		}
		name = next
	}
	return answer{}, &Error{Name: name, Kind: KindCNAMELoop}
}

// query asks one question (from the cache if fresh). It returns the records
// of qtype at the end of any CNAME chain inside the answer, or next, the
// name to ask about when the chain leaves the answer without them.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (answer, string, error) {
	key := cacheKey{name: name, qtype: qtype}
	if e, ok := r.cache.get(key, r.now()); ok {
		return e.ans, e.next, e.err
	}
	msg, err := r.exchange(ctx, name, qtype)
	if err != nil {
		return answer{}, "", err
	}
	switch msg.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		nx := &Error{Name: name, Kind: KindNXDomain}
		r.cache.putErr(key, nx, r.now(), negativeTTL(msg))
		return answer{}, "", nx
	default:
		return answer{}, "", &Error{Name: name, Kind: KindServFail, Err: fmt.Errorf("rcode %s", dns.RcodeToString[msg.Rcode])}
	}
	a, next := chase(msg, name, qtype)
	if len(a.rrs) == 0 && next == "" {
		a.ttl = negativeTTL(msg)
	}
	r.cache.put(key, cacheEntry{ans: a, next: next}, r.now(), a.ttl)
	return a, next, nil
}

// chase follows the CNAMEs of msg's answer section from name and collects
// the records of qtype at the end of the chain.
func chase(msg *dns.Msg, name string, qtype uint16) (answer, string) {
	a := answer{ttl: 1<<32 - 1}
	for range maxCNAME + 1 {
		var cname string
		for _, rr := range msg.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			if h.Rrtype == qtype {
				a.rrs = append(a.rrs, rr)
				a.ttl = min(a.ttl, h.Ttl)
			} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				cname = strings.ToLower(c.Target)
				a.ttl = min(a.ttl, h.Ttl)
			}
		}
		if len(a.rrs) > 0 || cname == "" {
			if len(a.rrs) == 0 {
				a.ttl = 0
			}
			return a, ""
		}
		name = cname
		if !hasOwner(msg, name) {
			return a, name
		}
	}
	return a, ""
}

func hasOwner(msg *dns.Msg, name string) bool {
	for _, rr := range msg.Answer {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}

// negativeTTL is how long a negative answer may be cached (RFC 2308
// section 5: the smaller of the SOA's TTL and its MINIMUM field).
func negativeTTL(msg *dns.Msg) uint32 {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// exchange sends one question over UDP, retried over TCP when the answer
// is truncated, to each server in turn until one answers.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, false)
	var last error
	for _, server := range r.servers {
		for range r.attempts {
			if err := ctx.Err(); err != nil {
				return nil, &Error{Name: name, Kind: KindNetwork, Err: err}
			}
			c := &dns.Client{Net: "udp", Timeout: r.timeout}
			resp, _, err := c.ExchangeContext(ctx, m, server)
			if err == nil && resp.Truncated {
				c.Net = "tcp"
				resp, _, err = c.ExchangeContext(ctx, m, server)
			}
			if err == nil {
				if resp.Id != m.Id {
					last = errors.New("answer with the wrong ID")
					continue
				}
				return resp, nil
			}
			last = err
		}
	}
	return nil, &Error{Name: name, Kind: KindNetwork, Err: last}
}
