package webmail

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"petrel/queue"
	"petrel/store"
)

type outboxData struct {
	Items []outboxEntry
	Now   time.Time
	// Only is the one entry asked for (?id=, a delivery report's link);
	// Gone says it is no longer among the user's queued messages.
	Only string
	Gone bool
}

// outboxEntry is one queued message with its subject.
type outboxEntry struct {
	queue.Item
	Subject string
}

// Outcome says how a finished (retired) message ended: "delivered",
// "failed" or "delivered to some recipients, failed for others".
func (e outboxEntry) Outcome() string {
	var ok, failed int
	for _, r := range e.Rcpts {
		switch r.State {
		case queue.Delivered:
			ok++
		case queue.Failed:
			failed++
		}
	}
	switch {
	case failed == 0:
		return "delivered"
	case ok == 0:
		return "failed"
	}
	return "delivered to some recipients, failed for others"
}

// subject reads the Subject of a queued message (decoded), "" if none.
func (s *Server) subject(id string) string {
	_, msg, err := s.opts.Outbox.Show(id)
	if err != nil {
		return ""
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return ""
	}
	mh := gomail.Header{Header: message.Header{Header: h}}
	subj, _ := mh.Subject()
	return subj
}

// mine returns the queued messages the user sent (from its address or
// an alias), newest first.
func (s *Server) outboxItems(sess *session) ([]queue.Item, error) {
	items, err := s.opts.Outbox.List()
	if err != nil {
		return nil, err
	}
	froms := s.fromChoices(sess)
	var out []queue.Item
	for _, it := range items {
		f := strings.ToLower(it.From)
		if slices.Contains(froms, f) || slices.Contains(froms, store.StripPlus(f, s.opts.PlusSeparator)) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b queue.Item) int { return b.Arrived.Compare(a.Arrived) })
	return out, nil
}

// outboxPage lists the user's messages still in the queue, and those
// finished lately (the queue's retired entries, kept for
// queue.Options.KeepFinished): each recipient's state, attempts, last
// reply and next try.
func (s *Server) outboxPage(w http.ResponseWriter, r *http.Request, sess *session) {
	if s.opts.Outbox == nil {
		http.NotFound(w, r)
		return
	}
	items, err := s.outboxItems(sess)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := &outboxData{Now: s.opts.Now(), Only: r.URL.Query().Get("id")}
	if d.Only != "" && !validQueueID(d.Only) {
		d.Only = ""
	}
	for _, it := range items {
		if d.Only == "" || it.ID == d.Only {
			d.Items = append(d.Items, outboxEntry{Item: it, Subject: s.subject(it.ID)})
		}
	}
	d.Gone = d.Only != "" && len(d.Items) == 0
	s.render(w, r, http.StatusOK, "outbox.html", page{Title: "Outbox", Sess: sess, Data: d})
}

// outboxAction retries now or cancels one of the user's queued messages
// (never another user's: the id must be among the user's own).
func (s *Server) outboxAction(w http.ResponseWriter, r *http.Request, sess *session) {
	if s.opts.Outbox == nil {
		http.NotFound(w, r)
		return
	}
	items, err := s.outboxItems(sess)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	id := r.PostFormValue("id")
	i := slices.IndexFunc(items, func(it queue.Item) bool { return it.ID == id })
	if i < 0 {
		s.fail(w, r, sess, errNotFound)
		return
	}
	if !items[i].Finished.IsZero() {
		sess.setFlash("That message is finished: there is nothing left to retry or cancel.")
		http.Redirect(w, r, "/outbox", http.StatusSeeOther)
		return
	}
	switch r.PostFormValue("action") {
	case "retry":
		err = s.opts.Outbox.Retry(id)
		sess.setFlash("Trying again now.")
	case "cancel":
		err = s.opts.Outbox.Delete(id)
		sess.setFlash("Sending cancelled.")
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/outbox", http.StatusSeeOther)
}
