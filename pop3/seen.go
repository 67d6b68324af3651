package pop3

import (
	"context"
	"log/slog"
	"sync"

	"petrel/store"
)

// seenMarker sets \Seen on the messages a session retrieved. RETR hands it
// the UID and goes on sending; one goroutine writes whatever accumulated
// while its previous write was being committed. A download of n messages
// so costs a few fsyncs, not n, and RETR never waits for the disk.
type seenMarker struct {
	ctx context.Context // carries the session as the writes' origin
	st  *store.Store
	mbx store.MailboxID
	log *slog.Logger

	mu      sync.Mutex
	pending []store.UID

	kick chan struct{} // one slot: "pending is not empty"
	done chan struct{}
}

func newSeenMarker(ctx context.Context, st *store.Store, mbx store.MailboxID, log *slog.Logger) *seenMarker {
	m := &seenMarker{ctx: ctx, st: st, mbx: mbx, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go m.run()
	return m
}

// add queues uid to be marked. Not to be called after close.
func (m *seenMarker) add(uid store.UID) {
	m.mu.Lock()
	m.pending = append(m.pending, uid)
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *seenMarker) run() {
	defer close(m.done)
	for range m.kick {
		m.mu.Lock()
		uids := m.pending
		m.pending = nil
		m.mu.Unlock()
		if len(uids) == 0 {
			continue
		}
		if _, err := m.st.StoreFlags(m.ctx, m.mbx, uids, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
			m.log.Warn("pop3: mark retrieved messages seen", "mailbox", m.mbx, "count", len(uids), "err", err)
		}
	}
}

// close writes what is pending and returns once it is committed.
func (m *seenMarker) close() {
	close(m.kick)
	<-m.done
}
