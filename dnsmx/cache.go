package dnsmx

import (
	"sync"
	"time"
)

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	ans     answer
	next    string // CNAME target to ask next
	err     error  // a cached negative answer (NXDOMAIN)
	expires time.Time
}

// cache holds answers until their TTL ends. When full, expired entries are
// dropped first, then arbitrary ones: a cache miss only costs a query.
type cache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry
}

func newCache(max int) *cache { return &cache{max: max, m: map[cacheKey]cacheEntry{}} }

func (c *cache) get(k cacheKey, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return e, false
	}
	if !now.Before(e.expires) {
		delete(c.m, k)
		return e, false
	}
	return e, true
}

func (c *cache) put(k cacheKey, e cacheEntry, now time.Time, ttl uint32) {
	if c.max <= 0 || ttl == 0 {
		return
	}
	e.expires = now.Add(time.Duration(ttl) * time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.evictLocked(now)
	}
	c.m[k] = e
}

func (c *cache) putErr(k cacheKey, err error, now time.Time, ttl uint32) {
	c.put(k, cacheEntry{err: err}, now, ttl)
}

// evictLocked drops expired entries, and if that frees nothing, a tenth of
// the rest. The caller holds c.mu.
func (c *cache) evictLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	drop := c.max / 10
	for k := range c.m {
		if len(c.m) < c.max || drop <= 0 {
			break
		}
		delete(c.m, k)
		drop--
	}
}
