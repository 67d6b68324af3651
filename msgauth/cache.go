package msgauth

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cache is a Resolver that remembers answers and NXDOMAINs for a fixed time.
//
// *net.Resolver does not expose record TTLs, so every entry lives for ttl
// (short by default, a minute or two, so a fixed SPF record is seen soon).
// Temporary failures are never cached: the next message asks again. The map
// is bounded by max entries; when it is full, expired entries go first and
// then arbitrary ones, which is enough for a cache whose only job is to spare
// the resolver the repeated lookups of a burst of mail from one sender.
type cache struct {
	next Resolver
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu sync.Mutex
	m  map[cacheKey]cacheEntry
}

type cacheKey struct {
	kind string // "txt", "mx", "ip", "ptr"
	name string // lower case, no trailing dot
}

type cacheEntry struct {
	val     any   // []string, []*net.MX or []net.IPAddr
	err     error // only NXDOMAIN (*net.DNSError with IsNotFound)
	expires time.Time
}

func newCache(next Resolver, ttl time.Duration, max int) *cache {
	return &cache{next: next, ttl: ttl, max: max, now: time.Now, m: make(map[cacheKey]cacheEntry)}
}

func (c *cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := lookup(c, ctx, "txt", name, c.next.LookupTXT)
	return slices.Clone(v), err
}

func (c *cache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := lookup(c, ctx, "mx", name, c.next.LookupMX)
	out := make([]*net.MX, len(v))
	for i, mx := range v {
		cp := *mx
		out[i] = &cp
	}
	return out, err
}

func (c *cache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := lookup(c, ctx, "ip", host, c.next.LookupIPAddr)
	return slices.Clone(v), err
}

func (c *cache) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := lookup(c, ctx, "ptr", addr, c.next.LookupAddr)
	return slices.Clone(v), err
}

// lookup answers from the cache or asks next and remembers the answer. The
// lock is not held while asking: two concurrent misses both ask, which is
// cheaper than making every caller wait behind one slow query.
func lookup[T any](c *cache, ctx context.Context, kind, name string, next func(context.Context, string) (T, error)) (T, error) {
	key := cacheKey{kind, strings.TrimSuffix(strings.ToLower(name), ".")}
	now := c.now()

	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		v, _ := e.val.(T)
		return v, e.err
	}

	v, err := next(ctx, name)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return v, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.evictLocked(now)
	}
	c.m[key] = cacheEntry{val: v, err: err, expires: now.Add(c.ttl)}
	return v, err
}

// evictLocked makes room: all expired entries, and if that is not enough,
// enough arbitrary ones to get back to three quarters full, so a full cache
// does not evict on every insert. The caller holds c.mu.
func (c *cache) evictLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max*3/4 {
			break
		}
		delete(c.m, k)
	}
}

// budget is a Resolver for one message: it refuses lookups after the first
// n, with a temporary DNS error, so the SPF, DKIM and DMARC checks report
// temperror instead of running on. It is safe for concurrent use because the
// three checks run at once.
type budget struct {
	next Resolver
	left atomic.Int64
	used atomic.Int64
}

func newBudget(next Resolver, n int) *budget {
	b := &budget{next: next}
	b.left.Store(int64(n))
	return b
}

func (b *budget) take(name string) error {
	b.used.Add(1)
	if b.left.Add(-1) < 0 {
		return &net.DNSError{Err: "msgauth: DNS lookup budget for this message exhausted", Name: name, IsTemporary: true}
	}
	return nil
}

func (b *budget) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if err := b.take(name); err != nil {
		return nil, err
	}
	return b.next.LookupTXT(ctx, name)
}

func (b *budget) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if err := b.take(name); err != nil {
		return nil, err
	}
	return b.next.LookupMX(ctx, name)
}

func (b *budget) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if err := b.take(host); err != nil {
		return nil, err
	}
	return b.next.LookupIPAddr(ctx, host)
}

func (b *budget) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if err := b.take(addr); err != nil {
		return nil, err
	}
	return b.next.LookupAddr(ctx, addr)
}
