package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"petrel/store"
)

// channel is the LISTEN/NOTIFY channel of committed changes; a
// notification's payload is "mailbox:modseq".
const channel = "petrel_changes"

// payload is what a changes row holds besides its key and kind.
type payload struct {
	Messages []store.Message `json:"m,omitempty"`
	UIDs     []store.UID     `json:"u,omitempty"`
}

// change names one change: a mailbox and its MODSEQ after it.
type change struct {
	mbx    store.MailboxID
	modseq uint64
}

// writeTx is a write transaction that remembers the origins
// (store.WithOrigin) of the changes it makes to mailboxes this node
// watches, so that this node's events carry them; a transaction that does
// not commit forgets them, as its MODSEQs will be another's.
type writeTx struct {
	pgx.Tx
	hub   *hub
	made  []change
	notes map[store.MailboxID]uint64 // the MODSEQ of each mailbox changed, to notify after the commit
}

func (w *writeTx) remember(ctx context.Context, ev store.Event) {
	origin := store.OriginOf(ctx)
	if origin == nil {
		return
	}
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers[ev.Mailbox] == nil {
		return // nobody here to tell
	}
	if len(h.origins) >= maxOrigins {
		clear(h.origins) // undelivered ones: their events lose the origin, and are echoed
	}
	k := change{ev.Mailbox, ev.ModSeq}
	h.origins[k] = origin
	w.made = append(w.made, k)
}

func (w *writeTx) forget() {
	if len(w.made) == 0 {
		return
	}
	w.hub.mu.Lock()
	for _, k := range w.made {
		delete(w.hub.origins, k)
	}
	w.hub.mu.Unlock()
}

// maxOrigins bounds the origins remembered and not yet delivered.
const maxOrigins = 1 << 16

// emit records ev in the transaction and notifies the channel, which
// PostgreSQL delivers when (and only if) the transaction commits.
func emit(ctx context.Context, tx pgx.Tx, ev store.Event) error {
	if w, ok := tx.(*writeTx); ok {
		w.remember(ctx, ev)
	}
	p, err := json.Marshal(payload{Messages: ev.Messages, UIDs: ev.UIDs})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO changes (mailbox, modseq, kind, payload) VALUES ($1, $2, $3, $4)",
		int64(ev.Mailbox), int64(ev.ModSeq), int16(ev.Kind), p)
	if err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	if w, ok := tx.(*writeTx); ok {
		if w.notes == nil {
			w.notes = map[store.MailboxID]uint64{}
		}
		w.notes[ev.Mailbox] = max(w.notes[ev.Mailbox], ev.ModSeq)
		return nil
	}
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, fmt.Sprintf("%d:%d", ev.Mailbox, ev.ModSeq))
	return err
}

// notify queues the changes a write committed for notifyLoop, which tells
// every node's listener. It does not wait: the write is durable already,
// and the notification only wakes the watchers.
func (s *Store) notify(notes map[store.MailboxID]uint64) {
	if len(notes) == 0 {
		return
	}
	h := s.hub
	h.mu.Lock()
	for mbx, modseq := range notes {
		h.notes[mbx] = max(h.notes[mbx], modseq)
	}
	h.mu.Unlock()
	select {
	case h.noteWake <- struct{}{}:
	default:
	}
}

// notifyLoop sends the queued notifications, all that queued meanwhile in
// one statement, on a transaction of its own (which writes no WAL, so
// waits for no flush: 30 µs). They are sent after the commits, not in
// them: PostgreSQL serializes the commits of transactions that NOTIFY,
// their flushes included, which made writers to different mailboxes wait
// for each other's fsync (StoreFlags by 8 writers: about 3 times the rate
// since). A notification lost here (the connection broke, the node
// died after the commit) is made up by every node's poll (hub.poll)
// within PollInterval. At Close, what is queued is sent before the pool
// closes.
func (h *hub) notifyLoop() {
	defer h.s.wg.Done()
	for {
		stopping := false
		select {
		case <-h.s.ctx.Done():
			stopping = true
		case <-h.noteWake:
		}
		h.mu.Lock()
		notes := h.notes
		h.notes = map[store.MailboxID]uint64{}
		h.mu.Unlock()
		if len(notes) > 0 {
			payloads := make([]string, 0, len(notes))
			for mbx, modseq := range notes {
				payloads = append(payloads, fmt.Sprintf("%d:%d", mbx, modseq))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := h.s.pool.Exec(ctx, "SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n", channel, payloads)
			cancel()
			if err != nil {
				h.s.log.Debug("store: change notification not sent; the nodes' poll will find it", "err", err)
			}
		}
		if stopping {
			return
		}
	}
}

// PollInterval is how often each node reads the MODSEQs of the mailboxes
// its watchers watch, to find changes whose notification was lost.
const PollInterval = time.Second

// poll reads the MODSEQs of the watched mailboxes every interval and marks
// those whose MODSEQ moved since it last looked (or that it sees for the
// first time, or that are gone): their watchers then read the changes
// table, where a change whose notification was lost is. One query per
// node and interval, whatever the number of watchers.
func (h *hub) poll(interval time.Duration) {
	defer h.s.wg.Done()
	last := map[store.MailboxID]int64{} // -1: gone
	for {
		select {
		case <-h.s.ctx.Done():
			return
		case <-time.After(interval):
		}
		h.mu.Lock()
		ids := make([]int64, 0, len(h.watchers))
		for id := range h.watchers {
			ids = append(ids, int64(id))
		}
		h.mu.Unlock()
		now := make(map[store.MailboxID]int64, len(ids))
		ctx, cancel := context.WithTimeout(h.s.ctx, h.s.opts.QueryTimeout)
		rows, _ := h.s.pool.Query(ctx, "SELECT id, modseq FROM mailboxes WHERE id = ANY($1)", ids)
		var id, modseq int64
		_, err := pgx.ForEachRow(rows, []any{&id, &modseq}, func() error {
			now[store.MailboxID(id)] = modseq
			return nil
		})
		cancel()
		if err != nil {
			continue // the next round reads again
		}
		for _, id := range ids {
			m, ok := now[store.MailboxID(id)]
			if !ok {
				m = -1
			}
			if prev, seen := last[store.MailboxID(id)]; !seen || prev != m {
				h.mark(store.MailboxID(id))
			}
		}
		last = now
		for _, id := range ids {
			if _, ok := now[store.MailboxID(id)]; !ok {
				last[store.MailboxID(id)] = -1
			}
		}
	}
}

// hub fans the changes committed by any node out to this node's watchers.
// listen marks a mailbox dirty when a notification for it comes (and every
// watched mailbox after a reconnect); dispatch reads each dirty mailbox's
// changes after the MODSEQ its watchers have seen and delivers them, in
// MODSEQ order, on its one goroutine.
type hub struct {
	s        *Store
	mu       sync.Mutex
	watchers map[store.MailboxID]map[*watcher]struct{}
	dirty    map[store.MailboxID]bool
	origins  map[change]any // of this node's writes, until delivered
	wake     chan struct{}
	notes    map[store.MailboxID]uint64 // committed here, not yet notified (notifyLoop)
	noteWake chan struct{}
}

type watcher struct {
	mu     sync.Mutex // held while fn runs, so that stop waits for it
	fn     func(store.Event)
	since  uint64 // the last MODSEQ delivered (or in the snapshot); dispatch's
	closed bool
}

func newHub(s *Store) *hub {
	return &hub{s: s, watchers: map[store.MailboxID]map[*watcher]struct{}{}, dirty: map[store.MailboxID]bool{}, origins: map[change]any{}, wake: make(chan struct{}, 1),
		notes: map[store.MailboxID]uint64{}, noteWake: make(chan struct{}, 1)}
}

func (h *hub) mark(id store.MailboxID) {
	h.mu.Lock()
	if h.watchers[id] != nil {
		h.dirty[id] = true
	}
	h.mu.Unlock()
	h.signal()
}

func (h *hub) markAll() {
	h.mu.Lock()
	for id := range h.watchers {
		h.dirty[id] = true
	}
	h.mu.Unlock()
	h.signal()
}

func (h *hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// listen keeps a connection LISTENing on the channel, reconnecting with
// backoff when it breaks; after each (re)connect every watched mailbox is
// read again from its watchers' MODSEQ, so nothing is lost in between.
func (h *hub) listen(cfg *pgx.ConnConfig) {
	defer h.s.wg.Done()
	ctx := h.s.ctx
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+channel)
			if err == nil {
				delay = 50 * time.Millisecond
				h.markAll()
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						err = werr
						break
					}
					mbx, _, _ := strings.Cut(n.Payload, ":")
					if id, perr := strconv.ParseUint(mbx, 10, 64); perr == nil {
						h.mark(store.MailboxID(id))
					}
				}
			}
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		h.s.log.Warn("store: change notifications lost, reconnecting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// dispatch delivers the changes of dirty mailboxes.
func (h *hub) dispatch() {
	defer h.s.wg.Done()
	ctx := h.s.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		h.mu.Lock()
		dirty := h.dirty
		h.dirty = map[store.MailboxID]bool{}
		h.mu.Unlock()
		for id := range dirty {
			if err := h.catchUp(ctx, id); err != nil && ctx.Err() == nil {
				h.s.log.Warn("store: reading changes", "mailbox", id, "err", err)
				// Read again soon: the changes stay in the table.
				time.AfterFunc(200*time.Millisecond, func() { h.mark(id) })
			}
		}
	}
}

// catchUp reads mailbox id's changes after the lowest MODSEQ its watchers
// have seen and gives each watcher those after its own.
func (h *hub) catchUp(ctx context.Context, id store.MailboxID) error {
	h.mu.Lock()
	var ws []*watcher
	for w := range h.watchers[id] {
		ws = append(ws, w)
	}
	h.mu.Unlock()
	if len(ws) == 0 {
		return nil
	}
	since := ws[0].since
	for _, w := range ws {
		since = min(since, w.since)
	}
	ctx, cancel := context.WithTimeout(ctx, h.s.opts.QueryTimeout)
	defer cancel()
	rows, _ := h.s.pool.Query(ctx, "SELECT modseq, kind, payload FROM changes WHERE mailbox = $1 AND modseq > $2 ORDER BY modseq", int64(id), int64(since))
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) {
		var ev store.Event
		var kind int16
		var p payload
		err := r.Scan(&ev.ModSeq, &kind, &p)
		ev.Kind, ev.Mailbox, ev.Messages, ev.UIDs = store.EventKind(kind), id, p.Messages, p.UIDs
		return ev, err
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	for i := range events {
		k := change{id, events[i].ModSeq}
		if o, ok := h.origins[k]; ok {
			events[i].Origin = o
			delete(h.origins, k)
		}
	}
	h.mu.Unlock()
	for _, w := range ws {
		w.mu.Lock()
		for _, ev := range events {
			if w.closed {
				break
			}
			if ev.ModSeq > w.since {
				w.since = ev.ModSeq
				w.fn(ev)
			}
		}
		w.mu.Unlock()
	}
	return nil
}

// Watch reports every change committed to mailbox id after the returned
// snapshot, by any node, in commit order, by calling fn; the snapshot and
// the events are together exact. fn runs on the store's dispatcher
// goroutine: it must be quick and must not write to the store. Events of
// this node's writes carry their Origin (store.WithOrigin); those of other
// nodes' carry none. Call stop to end the watch; fn is not called once
// stop has returned.
func (s *Store) Watch(id store.MailboxID, fn func(store.Event)) (*store.Snapshot, func(), error) {
	snap := &store.Snapshot{}
	err := s.view(func(ctx context.Context, tx pgx.Tx) error {
		m, err := scanMailbox(tx.QueryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = $1", int64(id)))
		if err != nil {
			return err
		}
		snap.Mailbox = m
		rows, _ := tx.Query(ctx, "SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid", int64(id))
		u, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		snap.UIDs = toUIDs(u)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	w := &watcher{fn: fn, since: snap.Mailbox.ModSeq}
	h := s.hub
	h.mu.Lock()
	ws := h.watchers[id]
	if ws == nil {
		ws = map[*watcher]struct{}{}
		h.watchers[id] = ws
	}
	ws[w] = struct{}{}
	h.mu.Unlock()
	// What was committed between the snapshot and now is in the table.
	h.mark(id)
	stop := func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		h.mu.Lock()
		if ws := h.watchers[id]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(h.watchers, id)
			}
		}
		h.mu.Unlock()
	}
	return snap, stop, nil
}

// pruneChanges deletes the changes older than keep: a watcher that has been
// cut off from the database for longer than that must take a new snapshot.
func (s *Store) pruneChanges(ctx context.Context, keep time.Duration) error {
	_, err := s.pool.Exec(ctx, "DELETE FROM changes WHERE at < now() - $1::interval", keep.String())
	return err
}

// pruneLoop prunes the changes older than ChangesKept now and then every
// interval, until the store closes.
func (s *Store) pruneLoop(interval time.Duration) {
	defer s.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.QueryTimeout)
		if err := s.pruneChanges(ctx, ChangesKept); err != nil && s.ctx.Err() == nil {
			s.log.Warn("store: pruning old changes", "err", err)
		}
		cancel()
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
