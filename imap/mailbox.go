package imap

import (
	"fmt"
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
//     ascending: what a new view starts from. A uids slice is never modified
//     once published (views share it); changes make a new slice.
//   - every event applied to uids is also queued, in the same order, to
//     every view (flag changes except to the view that made them).
type mailbox struct {
	srv  *Server
	id   store.MailboxID
	refs int // guarded by srv.mboxMu
	stop func()

	mu          sync.Mutex
	loaded      bool
	early       []store.Event // events that arrived while Watch was loading
	uids        []store.UID
	uidNext     store.UID
	uidValidity uint32
	deleted     bool
	views       map[*view]struct{}

	hc *headerCache // SEARCH's cache of header fields (headercache.go)
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
	snap, stop, err := s.opts.Store.Watch(id, m.onEvent)
	if err != nil {
		return nil, fmt.Errorf("open mailbox %d: %w", id, err)
	}
	m.mu.Lock()
	m.stop = stop
	m.uids = snap.UIDs
	m.uidNext = snap.Mailbox.UIDNext
	m.uidValidity = snap.Mailbox.UIDValidity
	m.hc = s.headerCaches.cacheFor(id, m.uidValidity)
	m.loaded = true
	for _, ev := range m.early {
		m.applyLocked(ev)
	}
	m.early = nil
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
		m.stop()
	}
}

// onEvent is the store.Watch callback. It runs on the store's committer
// goroutine: memory only, under mu, and a non-blocking wake-up per view.
func (m *mailbox) onEvent(ev store.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		m.early = append(m.early, ev)
		return
	}
	m.applyLocked(ev)
}

func (m *mailbox) applyLocked(ev store.Event) {
	switch ev.Kind {
	case store.EventAdded:
		nu := make([]store.UID, len(m.uids), len(m.uids)+len(ev.Messages))
		copy(nu, m.uids)
		for _, msg := range ev.Messages {
			nu = append(nu, msg.UID)
			if msg.UID >= m.uidNext {
				m.uidNext = msg.UID + 1
			}
		}
		// The store hands out UIDs in ascending order; keep the list sorted
		// even if a batch arrived otherwise.
		if !slices.IsSorted(nu) {
			slices.Sort(nu)
		}
		m.uids = nu
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
		select {
		case v.wake <- struct{}{}:
		default:
		}
	}
}

// without returns a new slice of the UIDs of list not in gone (both
// ascending).
func without(list, gone []store.UID) []store.UID {
	out := make([]store.UID, 0, max(len(list)-len(gone), 0))
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
