package webmail

import (
	"net/http"
	"strconv"
	"time"

	"petrel/store"
)

// pageSize is how many messages a list page shows.
const pageSize = 50

// row is one message in a list.
type row struct {
	UID                            store.UID
	URL                            string
	From, Subject                  string
	Date                           time.Time
	Size                           int64
	Seen, Flagged, Answered, Draft bool
	Attachment                     bool
	// For the conversation view: its place.
	InThread int  // messages in its conversation (on the newest, shown first)
	Reply    bool // not the newest of its conversation: shown under it
}

type listData struct {
	Mailbox         *store.Mailbox
	Folder          folderView
	Rows            []row
	Newer, Older    string // links, "" when there is no such page
	Query           string
	Search          bool
	Scanned         int
	Truncated       bool
	Targets         []folderView // where messages may be moved
	IsTrash, IsJunk bool
	Back            string
	Conversations   bool
}

// mailbox returns the session's mailbox of that id (as a URL gives it):
// another account's mailbox is errNotFound, as is one that does not exist.
func (s *Server) mailbox(sess *session, idStr string) (*store.Mailbox, error) {
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil {
		return nil, errNotFound
	}
	m, err := s.st.MailboxByID(store.MailboxID(id))
	if err != nil {
		return nil, err
	}
	if m.Account != sess.acct {
		return nil, errNotFound
	}
	return m, nil
}

func parseUID(s string) (store.UID, bool) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 {
		return 0, false
	}
	return store.UID(v), true
}

// listPage shows one page of a mailbox, newest first. The page is found by
// UID (?before= the last one shown, ?after= the first), so that any page
// of a 100,000-message mailbox reads only its own 50 records.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, sess *session) {
	m, err := s.mailbox(sess, r.PathValue("mbx"))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	q := r.URL.Query()
	if q.Get("view") == "conversations" {
		s.listConversations(w, r, sess, m)
		return
	}
	var msgs []store.Message
	if after, ok := parseUID(q.Get("after")); ok {
		msgs, err = s.st.Page(m.ID, after, pageSize, false)
		if err == nil && len(msgs) < pageSize {
			msgs = nil // near the top: show the first page
		}
	}
	if msgs == nil && err == nil {
		before, _ := parseUID(q.Get("before"))
		msgs, err = s.st.Page(m.ID, before, pageSize+1, true)
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := &listData{Mailbox: m}
	if len(msgs) > pageSize {
		msgs = msgs[:pageSize]
		d.Older = mailboxURL(m.ID) + "?before=" + strconv.FormatUint(uint64(msgs[len(msgs)-1].UID), 10)
	}
	if len(msgs) > 0 {
		newer, err := s.st.Page(m.ID, msgs[0].UID, 1, false)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		if len(newer) > 0 {
			d.Newer = mailboxURL(m.ID) + "?after=" + strconv.FormatUint(uint64(msgs[0].UID), 10)
		}
	}
	if d.Rows, err = s.rows(m.ID, msgs); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.showList(w, r, sess, m, d)
}

func (s *Server) showList(w http.ResponseWriter, r *http.Request, sess *session, m *store.Mailbox, d *listData) {
	mbs, err := s.st.Mailboxes(sess.acct)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	folders := folderViews(mbs)
	for _, f := range folders {
		if f.ID == m.ID {
			d.Folder = f
		} else {
			d.Targets = append(d.Targets, f)
		}
	}
	d.IsTrash, d.IsJunk = m.SpecialUse == `\Trash`, m.SpecialUse == `\Junk`
	d.Back = r.URL.RequestURI()
	title := d.Folder.Label
	if d.Search {
		title = "Search " + title
	}
	s.render(w, r, http.StatusOK, "list.html", page{Title: title, Sess: sess, Folders: folders, Current: m.ID, Query: d.Query, Data: d})
}

// rows reads the envelopes of msgs in one read transaction.
func (s *Server) rows(mbx store.MailboxID, msgs []store.Message) ([]row, error) {
	rows := make([]row, 0, len(msgs))
	uids := make([]store.UID, len(msgs))
	idx := make(map[store.UID]int, len(msgs))
	for i, m := range msgs {
		uids[i] = m.UID
		idx[m.UID] = i
		rows = append(rows, row{UID: m.UID, URL: messageURL(mbx, m.UID), Date: m.InternalDate, Size: m.Size,
			Seen: m.Has(store.FlagSeen), Flagged: m.Has(store.FlagFlagged), Answered: m.Has(store.FlagAnswered), Draft: m.Has(store.FlagDraft),
			Subject: "(no subject)"})
	}
	err := s.st.ReadContents(mbx, uids, func(uid store.UID, _ *store.Content, p *store.Part) error {
		rw := &rows[idx[uid]]
		if env := p.Envelope; env != nil {
			if env.Subject != "" {
				rw.Subject = env.Subject
			}
			if len(env.From) > 0 {
				rw.From = env.From[0].Name
				if rw.From == "" {
					rw.From = plainAddress(env.From[0])
				}
			}
			if !env.Date.IsZero() {
				rw.Date = env.Date
			}
		}
		rw.Attachment = hasAttachment(p)
		return nil
	})
	return rows, err
}

// hasAttachment says whether a message has a part that is an attachment.
func hasAttachment(p *store.Part) bool {
	found := false
	walkParts(p, "", func(sec string, q *store.Part) {
		if isAttachment(q) {
			found = true
		}
	})
	return found
}
