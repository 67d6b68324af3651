package pop3

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"petrel/store"
)

// seenMarker sets \Seen on the messages a session retrieved. RETR hands it
// the UID and goes on sending; one goroutine writes whatever accumulated,
// at most once per seenInterval, and what is left when the session ends.
// A download of n messages so costs a few commits, not n, RETR never waits
// for the disk, and IMAP clients watching the INBOX still see the flags
// change within about a second.
//
// Committing back to back instead (as soon as the previous commit is done)
// made a 10,000-message download 1.3 to 1.5 times slower than Dovecot's,
// which writes its flags once, when the session ends.
type seenMarker struct {
	ctx context.Context // carries the session as the writes' origin
	st  Store
	mbx store.MailboxID
	log *slog.Logger

	mu      sync.Mutex
	pending []store.UID

	kick    chan struct{} // one slot: "pending is not empty"; closed by close
	closing chan struct{} // closed by close: write now, wait no more
	done    chan struct{}
}

// seenInterval is the shortest time between two \Seen commits of a session.
const seenInterval = time.Second

func newSeenMarker(ctx context.Context, st Store, mbx store.MailboxID, log *slog.Logger) *seenMarker {
	m := &seenMarker{ctx: ctx, st: st, mbx: mbx, log: log,
		kick: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
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
	for {
		_, open := <-m.kick
		m.write()
		if !open {
			return
		}
		t := time.NewTimer(seenInterval)
		select {
		case <-t.C:
		case <-m.closing:
		}
		t.Stop()
	}
}

// write commits what is pending.
func (m *seenMarker) write() {
	m.mu.Lock()
	uids := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(uids) == 0 {
		return
	}
	if _, err := m.st.StoreFlags(m.ctx, m.mbx, uids, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
		m.log.Warn("pop3: mark retrieved messages seen", "mailbox", m.mbx, "count", len(uids), "err", err)
	}
}

// close writes what is pending and returns once it is committed.
func (m *seenMarker) close() {
	close(m.closing)
	close(m.kick)
	<-m.done
}
