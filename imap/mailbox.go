package imap

import (
	"fmt"
	"github.com/emersion/go-imap/v2"
	"slices"
	"sync"

	"petrel/store"
)

// maxPending bounds the events queued for one view. A session that lets
// more pile up (selected, never issuing a command, while a bulk import
// runs) is disconnected rather than allowed to grow without limit; its
// client resynchronises on reconnect.
const maxPending = 100_000

// mailbox is one open mailbox, shared by every session that selected it.
//
// Invariants (mu held):
//   - uids is the mailbox's UID list as of the last event applied,
//     ascending: what a new view starts from. Views share it: an element
//     below len(uids) is never modified once published. New UIDs are
//     appended in place (past every view's length); an expunge makes a new
//     array.
//   - every event applied to uids is also queued, in the same order, to
//     every view (flag changes except to the view that made them).
type mailbox struct {
	srv  *Server
	id   store.MailboxID
	refs int // guarded by srv.mboxMu
	stop func()

	mu          sync.Mutex
	uids        []store.UID
	uidNext     store.UID
	uidValidity uint32
	deleted     bool
	views       map[*view]struct{}

	hc *headerCache // SEARCH's cache of header fields (headercache.go)

	// recentFrom is the lowest UID no session has claimed as \Recent
	// (RFC 3501 2.3.2: a message is recent to exactly one session, the
	// first to be told of it). It outlives the open mailbox in
	// Server.recent, but not the process: after a restart the messages
	// already there are recent to no one.
	recentFrom store.UID
	modseq     uint64 // HIGHESTMODSEQ as of the last event applied
	// keywords are the keywords seen on the mailbox's messages, for the
	// FLAGS of SELECT (each session announces more as it meets them).
	keywords map[string]struct{}
}

// recentMark is what Server.recent keeps of a closed mailbox.
type recentMark struct {
	uidValidity uint32
	from        store.UID
}

// openMailbox returns the shared state of mailbox id, loading it on first
// use. Pair with releaseMailbox.
func (s *Server) openMailbox(id store.MailboxID) (*mailbox, error) {
	s.mboxMu.Lock()
	defer s.mboxMu.Unlock()
	if m := s.mailboxes[id]; m != nil {
		m.refs++
		return m, nil
	}
	m := &mailbox{srv: s, id: id, refs: 1, views: make(map[*view]struct{})}
	// Held across Watch until the snapshot is in: the store's contract is
	// that events may come as soon as Watch has registered onEvent, which
	// waits here for the state they apply to.
	m.mu.Lock()
	snap, stop, err := s.opts.Store.Watch(id, m.onEvent)
	if err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("open mailbox %d: %w", id, err)
	}
	m.stop = stop
	m.uids = snap.UIDs
	m.uidNext = snap.Mailbox.UIDNext
	m.uidValidity = snap.Mailbox.UIDValidity
	m.modseq = snap.Mailbox.ModSeq
	m.hc = s.headerCaches.cacheFor(id, m.uidValidity)
	m.keywords = make(map[string]struct{})
	m.mu.Unlock()
	// No session sees m before mboxMu is released; firstRecent reads the
	// store, which a committing writer's onEvent must not wait for.
	var from store.UID
	if r, ok := s.recent[id]; ok && r.uidValidity == snap.Mailbox.UIDValidity {
		from = r.from
	} else {
		from = s.firstRecent(id, snap.UIDs, snap.Mailbox.UIDNext)
	}
	m.mu.Lock()
	m.recentFrom = from
	m.mu.Unlock()
	s.mailboxes[id] = m
	return m, nil
}

func (s *Server) releaseMailbox(m *mailbox) {
	s.mboxMu.Lock()
	defer s.mboxMu.Unlock()
	m.refs--
	if m.refs == 0 {
		delete(s.mailboxes, m.id)
		m.mu.Lock()
		s.recent[m.id] = recentMark{uidValidity: m.uidValidity, from: m.recentFrom}
		m.mu.Unlock()
		m.stop()
	}
}

// onEvent is the store.Watch callback. It runs on the store's committing
// goroutine: memory only, under mu, and a non-blocking wake-up per view.
func (m *mailbox) onEvent(ev store.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applyLocked(ev)
}

func (m *mailbox) applyLocked(ev store.Event) {
	m.modseq = max(m.modseq, ev.ModSeq)
	switch ev.Kind {
	case store.EventAdded:
		// The store hands out UIDs in ascending order, so new ones go at
		// the end, appended in place: views share a prefix of the array and
		// never look past their own length, so a delivery costs the same
		// whatever the size of the mailbox (no copy of the list).
		inOrder := true
		last := store.UID(0)
		if len(m.uids) > 0 {
			last = m.uids[len(m.uids)-1]
		}
		for _, msg := range ev.Messages {
			inOrder = inOrder && msg.UID > last
			last = max(last, msg.UID)
			if msg.UID >= m.uidNext {
				m.uidNext = msg.UID + 1
			}
		}
		if inOrder {
			for _, msg := range ev.Messages {
				m.uids = append(m.uids, msg.UID)
			}
		} else {
			// Never seen; keep the list sorted (a new array) all the same.
			nu := slices.Clone(m.uids)
			for _, msg := range ev.Messages {
				nu = append(nu, msg.UID)
			}
			slices.Sort(nu)
			m.uids = slices.Compact(nu)
		}
		for _, msg := range ev.Messages {
			m.noteKeywordsLocked(msg.Flags)
		}
	case store.EventExpunged:
		m.uids = without(m.uids, ev.UIDs)
		m.hc.drop(ev.UIDs)
	case store.EventMailboxDeleted:
		// Sessions see every message expunged; their next command on the
		// mailbox fails with NONEXISTENT.
		m.deleted = true
		m.hc.drop(nil)
		ev = store.Event{Kind: store.EventExpunged, Mailbox: m.id, UIDs: m.uids, ModSeq: ev.ModSeq}
		m.uids = nil
	case store.EventFlags:
		for _, msg := range ev.Messages {
			m.noteKeywordsLocked(msg.Flags)
		}
	default:
		return
	}
	for v := range m.views {
		if ev.Kind == store.EventFlags && ev.Origin == v {
			continue
		}
		if v.overflow {
			continue
		}
		if len(v.pending) >= maxPending {
			v.overflow = true
			v.pending = nil
		} else {
			v.pending = append(v.pending, ev)
		}
		v.wake.poke()
	}
}

// without returns a new slice of the UIDs of list not in gone (both
// ascending), with room for as many as list had: the APPEND that follows
// an EXPUNGE in a client's loop then extends the mailbox's array (and the
// views' slices of it, and their \Recent) in place instead of copying.
func without(list, gone []store.UID) []store.UID {
	out := make([]store.UID, 0, len(list))
	j := 0
	for _, u := range list {
		for j < len(gone) && gone[j] < u {
			j++
		}
		if j < len(gone) && gone[j] == u {
			continue
		}
		out = append(out, u)
	}
	return out
}

// noteKeywordsLocked adds the keywords among flags to m.keywords.
func (m *mailbox) noteKeywordsLocked(flags []string) {
	for _, f := range flags {
		if !isSystemFlag(f) && len(m.keywords) < maxKeywords {
			m.keywords[f] = struct{}{}
		}
	}
}

// maxKeywords bounds the keywords a mailbox remembers for FLAGS.
const maxKeywords = 1000

func isSystemFlag(f string) bool {
	return len(f) > 0 && f[0] == '\\' || slices.Contains(systemFlags, imap.Flag(f))
}

// claimRecent returns those of uids (ascending) that become \Recent to
// the caller: the ones no session has claimed yet.
func (m *mailbox) claimRecent(uids []store.UID) []store.UID {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearch(uids, m.recentFrom)
	if i == len(uids) {
		return nil
	}
	m.recentFrom = uids[len(uids)-1] + 1
	return slices.Clone(uids[i:])
}

// firstRecent guesses, for a mailbox no session opened since the server
// started, the first message no session has seen: the first that arrived
// after the start, by internal date (a binary search, a few reads; an
// APPEND with an older date can make it err, which \Recent tolerates).
func (s *Server) firstRecent(id store.MailboxID, uids []store.UID, uidNext store.UID) store.UID {
	lo, hi := 0, len(uids)
	for lo < hi {
		mid := (lo + hi) / 2
		metas, err := s.opts.Store.Messages(id, uids[mid:mid+1])
		if err != nil || len(metas) == 0 {
			return uidNext
		}
		if metas[0].InternalDate.Before(s.started) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(uids) {
		return uidNext
	}
	return uids[lo]
}

// recentCount is STATUS RECENT: the messages no session has claimed. For a
// mailbox not open it counts UIDs, not messages (an upper bound if some
// were expunged since).
func (s *Server) recentCount(mb *store.Mailbox) uint32 {
	s.mboxMu.Lock()
	defer s.mboxMu.Unlock()
	if m := s.mailboxes[mb.ID]; m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		i, _ := slices.BinarySearch(m.uids, m.recentFrom)
		return uint32(len(m.uids) - i)
	}
	r, ok := s.recent[mb.ID]
	if !ok || r.uidValidity != mb.UIDValidity || r.from >= mb.UIDNext {
		return 0 // (not counted before the mailbox is first opened)
	}
	return min(mb.Messages, uint32(mb.UIDNext-r.from))
}
