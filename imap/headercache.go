package imap

import (
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"petrel/search"
	"petrel/store"
)

// headerCache keeps, for one mailbox, the decoded values of the fields
// SEARCH most often asks for (From, To, Cc, Bcc, Subject), filled the first
// time a search reads them, so that searching them again reads no message
// (Dovecot keeps the same in dovecot.index.cache). A message's header never
// changes under its UID, and UIDs are not reused under one UIDVALIDITY, so
// an entry stays right for as long as it is kept: the open mailbox drops
// it when the message is expunged; one expunged while the mailbox was not
// open only takes room until evicted. The caches of all mailboxes share
// one budget of entries (headerCaches).
type headerCache struct {
	owner *headerCaches

	mu sync.Mutex
	// values[field][uid]: every value of the field in the message, decoded
	// and lower-cased, each preceded by a NUL; "" when it has none.
	values  map[string]map[store.UID]string
	n       int
	lastUse uint64
}

// headerCaches are the headerCaches of a server, kept while their mailbox
// is closed too, within one budget of entries: past it, the caches used
// least recently are emptied first.
type headerCaches struct {
	budget int

	mu     sync.Mutex // taken before a headerCache's, never after
	caches map[cacheKey]*headerCache
	total  int
	clock  uint64
}

type cacheKey struct {
	mbx         store.MailboxID
	uidValidity uint32
}

// defaultCacheBudget is how many field values a server keeps for SEARCH:
// about 25 MiB for subjects and address lists of usual length (90 bytes a
// value with the maps, measured with 45-byte values), enough for From and
// Subject of 130,000 messages.
const defaultCacheBudget = 1 << 18

func newHeaderCaches(budget int) *headerCaches {
	return &headerCaches{budget: budget, caches: make(map[cacheKey]*headerCache)}
}

// cacheFor returns the cache of a mailbox, made empty if it has none.
func (hc *headerCaches) cacheFor(mbx store.MailboxID, uidValidity uint32) *headerCache {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	k := cacheKey{mbx, uidValidity}
	c := hc.caches[k]
	if c == nil {
		c = &headerCache{owner: hc}
		hc.caches[k] = c
	}
	return c
}

// reserve makes room for n more entries, emptying the least recently used
// caches other than except; false when there is none to be had.
func (hc *headerCaches) reserve(n int, except *headerCache) bool {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for hc.total+n > hc.budget {
		var oldest *headerCache
		var oldestUse uint64
		for _, c := range hc.caches {
			if c == except {
				continue
			}
			c.mu.Lock()
			use, size := c.lastUse, c.n
			c.mu.Unlock()
			if size > 0 && (oldest == nil || use < oldestUse) {
				oldest, oldestUse = c, use
			}
		}
		if oldest == nil {
			return false
		}
		oldest.mu.Lock()
		hc.total -= oldest.n
		oldest.values, oldest.n = nil, 0
		oldest.mu.Unlock()
	}
	hc.total += n
	return true
}

func (hc *headerCaches) release(n int) {
	if n == 0 {
		return
	}
	hc.mu.Lock()
	hc.total -= n
	hc.mu.Unlock()
}

func (hc *headerCaches) tick() uint64 {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.clock++
	return hc.clock
}

var cacheableFields = map[string]bool{"from": true, "to": true, "cc": true, "bcc": true, "subject": true}

// cachedHeaderNames returns the lower-cased fields the header keys of c
// name, or nil when one of them is not served by the cache. It is asked
// only of searches that need no more than the top header.
func cachedHeaderNames(c *imap.SearchCriteria) []string {
	var names []string
	ok := true
	search.AnyKey(c, func(c *imap.SearchCriteria) bool {
		for _, h := range c.Header {
			if search.IsSpecialKey(h.Key) {
				continue
			}
			n := strings.ToLower(h.Key)
			ok = ok && cacheableFields[n]
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		return false // visit every key
	})
	if !ok || len(names) == 0 {
		return nil
	}
	return names
}

// lookup returns the cached values of names for each of uids that has all
// of them, and the uids that lack one, in order.
func (h *headerCache) lookup(uids []store.UID, names []string) (map[store.UID]map[string]string, []store.UID) {
	var now uint64
	if h.owner != nil {
		now = h.owner.tick()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastUse = now
	got := make(map[store.UID]map[string]string, len(uids))
	var miss []store.UID
	for _, uid := range uids {
		if !h.hasAll(uid, names) {
			miss = append(miss, uid)
			continue
		}
		vals := make(map[string]string, len(names))
		for _, n := range names {
			vals[n] = h.values[n][uid]
		}
		got[uid] = vals
	}
	return got, miss
}

func (h *headerCache) hasAll(uid store.UID, names []string) bool {
	for _, n := range names {
		if _, ok := h.values[n][uid]; !ok {
			return false
		}
	}
	return true
}

// readValues returns the fieldValues of names in hdr, a message's top
// header.
func readValues(hdr []byte, names []string) map[string]string {
	vals := make(map[string]string, len(names))
	for _, n := range names {
		vals[n] = search.FieldValues(hdr, n)
	}
	return vals
}

// put stores a message's values, as far as the budget allows.
func (h *headerCache) put(uid store.UID, vals map[string]string) {
	if h.owner != nil && !h.owner.reserve(len(vals), h) {
		return
	}
	h.mu.Lock()
	if h.values == nil {
		h.values = make(map[string]map[store.UID]string)
	}
	unused := 0
	for n, v := range vals {
		m := h.values[n]
		if m == nil {
			m = make(map[store.UID]string)
			h.values[n] = m
		}
		if _, ok := m[uid]; ok {
			unused++
		} else {
			h.n++
		}
		m[uid] = v
	}
	h.mu.Unlock()
	if h.owner != nil {
		h.owner.release(unused)
	}
}

// drop forgets expunged messages; nil uids forgets everything.
func (h *headerCache) drop(uids []store.UID) {
	h.mu.Lock()
	before := h.n
	if uids == nil {
		h.values, h.n = nil, 0
	} else {
		for _, m := range h.values {
			for _, uid := range uids {
				if _, ok := m[uid]; ok {
					delete(m, uid)
					h.n--
				}
			}
		}
	}
	freed := before - h.n
	h.mu.Unlock()
	if h.owner != nil {
		h.owner.release(freed)
	}
}
