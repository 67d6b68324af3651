package store

import (
	"slices"
	"sync"
)

// EventKind says what changed in a mailbox.
type EventKind int

const (
	// EventAdded: Messages were added (delivery, APPEND, COPY, MOVE).
	EventAdded EventKind = iota + 1
	// EventFlags: the flags of Messages changed.
	EventFlags
	// EventExpunged: UIDs were removed.
	EventExpunged
	// EventMailboxDeleted: the mailbox is gone; watchers should let go.
	EventMailboxDeleted
)

// Event is one committed change to one mailbox.
type Event struct {
	Kind    EventKind
	Mailbox MailboxID
	// ModSeq is the mailbox's modification sequence after the change.
	ModSeq uint64
	// Messages holds the added messages, or the new state of the messages
	// whose flags changed, in UID order.
	Messages []Message
	// UIDs holds the expunged UIDs, ascending.
	UIDs []UID
	// Origin is what the writer passed with WithOrigin, or nil.
	Origin any
}

// hub fans committed events out to the watchers of each mailbox.
type hub struct {
	mu       sync.RWMutex
	watchers map[MailboxID]map[*watcher]struct{}
}

type watcher struct {
	mu      sync.Mutex // held while fn runs: calls are one at a time
	fn      func(Event)
	loading bool    // snapshot not taken yet: queue
	pending []Event // queued while loading, until drained after Watch
	since   uint64  // events at or below this ModSeq are in the snapshot
	closed  bool
}

func newHub() *hub {
	return &hub{watchers: make(map[MailboxID]map[*watcher]struct{})}
}

func (h *hub) add(mbx MailboxID, w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.watchers[mbx]
	if ws == nil {
		ws = make(map[*watcher]struct{})
		h.watchers[mbx] = ws
	}
	ws[w] = struct{}{}
}

func (h *hub) remove(mbx MailboxID, w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws := h.watchers[mbx]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(h.watchers, mbx)
		}
	}
}

// publish runs on the goroutine that led the commit, after it, in commit
// order.
func (h *hub) publish(events []Event) {
	if len(events) == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, ev := range events {
		for w := range h.watchers[ev.Mailbox] {
			w.deliver(ev)
		}
	}
}

func (w *watcher) deliver(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.loading || len(w.pending) > 0 {
		// Behind the snapshot's own window: keep the order.
		w.pending = append(w.pending, ev)
		return
	}
	if ev.ModSeq <= w.since {
		return
	}
	w.fn(ev)
}

// drain delivers what was queued while Watch took the snapshot, and what
// queued behind it, in order, on its own goroutine: never on Watch's.
func (w *watcher) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.pending) > 0 && !w.closed {
		ev := w.pending[0]
		w.pending = w.pending[1:]
		if ev.ModSeq > w.since {
			w.fn(ev)
		}
	}
	w.pending = nil
}

// Snapshot is the state of a mailbox at the moment a watch began.
type Snapshot struct {
	Mailbox Mailbox
	// UIDs of the messages, ascending: UIDs[i] has sequence number i+1.
	UIDs []UID
}

// Watch returns mailbox id as of one point in commit order (the snapshot)
// and then calls fn once for every change committed after that point: in
// commit order, none missed, none seen twice, none the snapshot already
// holds. The calls are one at a time and never made on the goroutine that
// called Watch, but they may begin before Watch returns: a caller that
// applies events to state built from the snapshot takes the lock fn takes
// before it calls Watch and keeps it until the snapshot is installed, and
// needs no buffer of its own.
//
// fn runs on the goroutine of the write that led the commit (or, for the
// changes that came while the snapshot was read, on one Watch starts): it
// must be quick, must not block for long, and must not call the store's
// write methods (it would deadlock). Typically it updates an in-memory view under
// its own lock and wakes a session. Call the returned stop function to end
// the watch; fn is not called once stop has returned.
func (s *Store) Watch(id MailboxID, fn func(Event)) (*Snapshot, func(), error) {
	w := &watcher{fn: fn, loading: true}
	s.hub.add(id, w)
	snap, err := s.snapshot(id)
	if err != nil {
		s.hub.remove(id, w)
		return nil, nil, err
	}
	if s.afterSnapshot != nil {
		s.afterSnapshot()
	}
	w.mu.Lock()
	w.since = snap.Mailbox.ModSeq
	w.loading = false
	w.pending = slices.DeleteFunc(w.pending, func(ev Event) bool { return ev.ModSeq <= w.since })
	if len(w.pending) > 0 {
		go w.drain()
	}
	w.mu.Unlock()
	stop := func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		s.hub.remove(id, w)
	}
	return snap, stop, nil
}
