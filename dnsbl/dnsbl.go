package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"petrel/dnsmx"
)

// Action is what is done with a listed host.
type Action string

const (
	RefuseConnect Action = "refuse-connect" // 554 5.7.1 instead of the greeting
	RefuseRcpt    Action = "refuse-rcpt"    // 554 5.7.1 to every RCPT (postmaster excepted)
	Score         Action = "score"          // accept, with X-Petrel-DNSBL, into Junk
)

// ParseAction checks an action name.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case RefuseConnect, RefuseRcpt, Score:
		return a, nil
	}
	return "", fmt.Errorf("%q is not an action (want %q, %q or %q)", s, RefuseConnect, RefuseRcpt, Score)
}

// Zone is one list.
type Zone struct {
	Name   string  // the DNS zone, e.g. "zen.spamhaus.org"
	Weight float64 // what a listing counts; 0 = 1
	// NotListed are answers that do not mean a listing; nil =
	// DefaultNotListed.
	NotListed []netip.Addr
}

// DefaultNotListed are Spamhaus's error answers (a query through a public
// resolver, over the free query limit, or malformed): never listings.
var DefaultNotListed = []netip.Addr{
	netip.AddrFrom4([4]byte{127, 255, 255, 252}),
	netip.AddrFrom4([4]byte{127, 255, 255, 254}),
	netip.AddrFrom4([4]byte{127, 255, 255, 255}),
}

// Resolver looks up A records, caching them for their TTL; a name that
// does not exist is an error dnsmx reports as permanent.
// *dnsmx.Resolver is one.
type Resolver interface {
	LookupA(ctx context.Context, name string) ([]net.IP, error)
}

// Options configure a Checker.
type Options struct {
	Block    []Zone // DNSBLs
	Allow    []Zone // DNSWLs
	Action   Action // "" = RefuseRcpt
	Resolver Resolver
	// Timeout bounds one check, all zones asked at once (0 = 5s).
	Timeout time.Duration
	// OnResult is called for every zone asked, with "listed",
	// "not_listed" or "error" (for metrics); may be nil.
	OnResult func(zone, result string)
}

// Checker asks the lists about client addresses. It is safe for
// concurrent use.
type Checker struct {
	opts Options
}

// New checks opts and returns a Checker.
func New(opts Options) (*Checker, error) {
	if opts.Resolver == nil {
		return nil, errors.New("dnsbl: no resolver")
	}
	if opts.Action == "" {
		opts.Action = RefuseRcpt
	}
	if _, err := ParseAction(string(opts.Action)); err != nil {
		return nil, fmt.Errorf("dnsbl: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	for _, zs := range [][]Zone{opts.Block, opts.Allow} {
		for i := range zs {
			z := &zs[i]
			z.Name = strings.ToLower(strings.Trim(z.Name, "."))
			if z.Name == "" || strings.ContainsAny(z.Name, " \t/:@") {
				return nil, fmt.Errorf("dnsbl: %q is not a DNS zone", z.Name)
			}
			if z.Weight == 0 {
				z.Weight = 1
			}
			if z.NotListed == nil {
				z.NotListed = DefaultNotListed
			}
		}
	}
	return &Checker{opts: opts}, nil
}

// Action is what the caller does with a listed host.
func (c *Checker) Action() Action { return c.opts.Action }

// Listing is one list's answer about a host.
type Listing struct {
	Zone   string
	Answer string // the A record, e.g. "127.0.0.2"
	Weight float64
	Allow  bool // an allow list (DNSWL)
}

// Result is what the lists say about a host.
type Result struct {
	Listings []Listing // the lists that list it, block and allow
	Score    float64   // block weights minus allow weights
}

// Listed says the host's score reaches 1.
func (r *Result) Listed() bool { return r != nil && r.Score >= 1-1e-9 }

// Blocking names the block lists that list the host, for the reply.
func (r *Result) Blocking() string {
	var zs []string
	for _, l := range r.Listings {
		if !l.Allow {
			zs = append(zs, l.Zone)
		}
	}
	return strings.Join(zs, ", ")
}

// Summary is the listings for a log line or a header field:
// "zen.spamhaus.org=127.0.0.2, list.dnswl.org=127.0.10.0 (allow); score=0".
func (r *Result) Summary() string {
	var parts []string
	for _, l := range r.Listings {
		s := l.Zone + "=" + l.Answer
		if l.Allow {
			s += " (allow)"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%s; score=%g", strings.Join(parts, ", "), r.Score)
}

// Check asks every list about ip at once and adds up the listings.
func (c *Checker) Check(ctx context.Context, ip net.IP) *Result {
	res := &Result{}
	name, ok := ReverseName(ip)
	if !ok {
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	ask := func(z Zone, allow bool) {
		defer wg.Done()
		answer, result := c.ask(ctx, name+"."+z.Name, z)
		if c.opts.OnResult != nil {
			c.opts.OnResult(z.Name, result)
		}
		if answer == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		res.Listings = append(res.Listings, Listing{Zone: z.Name, Answer: answer, Weight: z.Weight, Allow: allow})
	}
	for _, z := range c.opts.Block {
		wg.Add(1)
		go ask(z, false)
	}
	for _, z := range c.opts.Allow {
		wg.Add(1)
		go ask(z, true)
	}
	wg.Wait()
	// In configuration order, whatever order the answers came in.
	order := map[string]int{}
	for i, z := range append(append([]Zone(nil), c.opts.Block...), c.opts.Allow...) {
		order[z.Name] = i
	}
	slices.SortStableFunc(res.Listings, func(a, b Listing) int { return order[a.Zone] - order[b.Zone] })
	for _, l := range res.Listings {
		if l.Allow {
			res.Score -= l.Weight
		} else {
			res.Score += l.Weight
		}
	}
	return res
}

// ask returns the listing answer for name ("" when not listed) and the
// result for the metrics.
func (c *Checker) ask(ctx context.Context, name string, z Zone) (string, string) {
	ips, err := c.opts.Resolver.LookupA(ctx, name)
	var de *dnsmx.Error
	switch {
	case errors.As(err, &de) && de.Kind == dnsmx.KindNXDomain:
		return "", "not_listed"
	case err != nil:
		return "", "error"
	}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		if !a.Is4() || a.As4()[0] != 127 || slices.Contains(z.NotListed, a) {
			continue
		}
		return a.String(), "listed"
	}
	return "", "not_listed"
}

// ReverseName is the name ip is looked up under in a list, without the
// zone (RFC 5782 2.1 and 2.4): "2.0.0.127" for 127.0.0.2, and the 32
// nibbles of an IPv6 address in reverse order, dot-separated. An
// IPv4-mapped IPv6 address is asked as IPv4.
func ReverseName(ip net.IP) (string, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "", false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%d.%d.%d.%d", b[3], b[2], b[1], b[0]), true
	}
	const hex = "0123456789abcdef"
	b := a.As16()
	out := make([]byte, 0, 63)
	for i := len(b) - 1; i >= 0; i-- {
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, hex[b[i]&0xf], '.', hex[b[i]>>4])
	}
	return string(out), true
}
