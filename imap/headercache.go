package imap

import (
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// headerCache keeps, for one open mailbox, the decoded values of the
// fields SEARCH most often asks for (From, To, Cc, Bcc, Subject), filled
// the first time a search reads them, so that searching them again reads
// no message (Dovecot keeps the same in dovecot.index.cache). A message's
// header never changes under its UID, so an entry stays right until the
// message is expunged, when it is dropped. It lives as long as the mailbox
// is open (selected by some session) and holds at most maxCachedFields
// values.
type headerCache struct {
	mu sync.Mutex
	// values[field][uid]: every value of the field in the message, decoded
	// and lower-cased, each preceded by a NUL; "" when it has none.
	values map[string]map[store.UID]string
	n      int
}

// maxCachedFields bounds a mailbox's cache: past it, searches read the
// messages as they would without one.
const maxCachedFields = 1 << 20

var cacheableFields = map[string]bool{"from": true, "to": true, "cc": true, "bcc": true, "subject": true}

// cachedHeaderNames returns the lower-cased fields the header keys of c
// name, or nil when one of them (or a body, text or sent-date key) is not
// served by the cache.
func cachedHeaderNames(c *imap.SearchCriteria) []string {
	var names []string
	ok := true
	anyKey(c, func(c *imap.SearchCriteria) bool {
		if len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			ok = false
		}
		for _, h := range c.Header {
			n := strings.ToLower(h.Key)
			if !cacheableFields[n] {
				ok = false
			}
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

// missing returns the uids lacking a value for one of names.
func (h *headerCache) missing(uids []store.UID, names []string) []store.UID {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []store.UID
	for _, uid := range uids {
		for _, n := range names {
			if _, ok := h.values[n][uid]; !ok {
				out = append(out, uid)
				break
			}
		}
	}
	return out
}

// fill stores the values of names read from hdr, a message's top header.
func (h *headerCache) fill(uid store.UID, hdr []byte, names []string) {
	vals := make([]string, len(names))
	for i, n := range names {
		var b strings.Builder
		eachField(hdr, n, func(value string) bool {
			f := headerField{value: value}
			b.WriteByte(0)
			b.WriteString(f.decode())
			return true
		})
		vals[i] = b.String()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.values == nil {
		h.values = make(map[string]map[store.UID]string)
	}
	for i, n := range names {
		m := h.values[n]
		if m == nil {
			m = make(map[store.UID]string)
			h.values[n] = m
		}
		if _, ok := m[uid]; !ok {
			if h.n >= maxCachedFields {
				return
			}
			h.n++
		}
		m[uid] = vals[i]
	}
}

// get returns the cached values of names for uid, nil unless all are there.
func (h *headerCache) get(uid store.UID, names []string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]string, len(names))
	for _, n := range names {
		v, ok := h.values[n][uid]
		if !ok {
			return nil
		}
		out[n] = v
	}
	return out
}

// drop forgets expunged messages; nil uids forgets everything.
func (h *headerCache) drop(uids []store.UID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if uids == nil {
		h.values, h.n = nil, 0
		return
	}
	for _, m := range h.values {
		for _, uid := range uids {
			if _, ok := m[uid]; ok {
				delete(m, uid)
				h.n--
			}
		}
	}
}

// cachedContains is headerContains on a cached value.
func cachedContains(v, s string) bool {
	if v == "" {
		return false // no such field
	}
	if s == "" || strings.Contains(v, s) {
		return true
	}
	return false
}
