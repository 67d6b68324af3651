package webmail

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"petrel/store"
)

// countsEvent is what a live page is told after a change: every folder's
// unread and total counts, and which folders changed.
type countsEvent struct {
	Unread  uint32               `json:"unread"` // INBOX's
	Folders map[string][2]uint32 `json:"folders"`
	Changed []store.MailboxID    `json:"changed"`
}

// events streams Server-Sent Events to a logged-in page: after each change
// the store commits to one of the account's mailboxes (by any client), the
// new counts. The connection holds one watch per mailbox and one goroutine.
func (s *Server) events(w http.ResponseWriter, r *http.Request, sess *session) {
	rc := http.NewResponseController(w)
	mbs, err := s.st.Mailboxes(sess.acct)
	if err != nil {
		http.Error(w, "could not list folders", http.StatusInternalServerError)
		return
	}
	wake := make(chan store.MailboxID, 64)
	for _, m := range mbs {
		_, stop, err := s.st.Watch(m.ID, func(ev store.Event) {
			select {
			case wake <- ev.Mailbox:
			default: // a wake-up is pending; it will read the counts anyway
			}
		})
		if err != nil {
			continue // deleted meanwhile
		}
		defer stop()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-keepalive.C:
			fmt.Fprintf(w, ": keepalive\n\n")
		case id := <-wake:
			changed := []store.MailboxID{id}
		drain:
			for {
				select {
				case id := <-wake:
					changed = append(changed, id)
				default:
					break drain
				}
			}
			mbs, err := s.st.Mailboxes(sess.acct)
			if err != nil {
				return
			}
			ev := countsEvent{Folders: make(map[string][2]uint32, len(mbs)), Changed: changed}
			for _, m := range mbs {
				ev.Folders[fmt.Sprint(m.ID)] = [2]uint32{m.Unseen, m.Messages}
				if m.Name == "INBOX" {
					ev.Unread = m.Unseen
				}
			}
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "event: counts\ndata: %s\n\n", b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
