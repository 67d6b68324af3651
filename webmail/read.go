package webmail

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"petrel/search"
	"petrel/store"
)

type messageData struct {
	Mailbox               *store.Mailbox
	UID                   store.UID
	URL                   string
	Subject               string
	From, To, Cc, ReplyTo string
	Date                  time.Time
	Size                  int64
	Flagged, Draft        bool
	Parts                 []bodyPart
	Attachments           []attachment
	Images                bool // remote images allowed for this view
	PreferText            bool
	Targets               []folderView
	IsTrash, IsJunk       bool
	Back                  string
	Report                bool // a delivery status notification (multipart/report)
	// QueueID is the outbox entry a report of this server's is about
	// (its X-Petrel-Queue-ID), "" when it names none.
	QueueID string
}

// message finds the session's message from the URL's mailbox and UID.
func (s *Server) message(sess *session, r *http.Request) (*store.Mailbox, store.UID, error) {
	m, err := s.mailbox(sess, r.PathValue("mbx"))
	if err != nil {
		return nil, 0, err
	}
	uid, ok := parseUID(r.PathValue("uid"))
	if !ok {
		return nil, 0, errNotFound
	}
	return m, uid, nil
}

// messagePage shows a message: its header, its text (plain text escaped
// with links; HTML sanitized, in a sandboxed frame), its attachments. It
// marks the message \Seen, as an IMAP FETCH of its body would.
func (s *Server) messagePage(w http.ResponseWriter, r *http.Request, sess *session) {
	m, uid, err := s.message(sess, r)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	msgs, err := s.st.Messages(m.ID, []store.UID{uid})
	if err != nil || len(msgs) == 0 {
		if err == nil {
			err = store.ErrNoMessage
		}
		s.fail(w, r, sess, err)
		return
	}
	meta := msgs[0]
	q := r.URL.Query()
	d := &messageData{Mailbox: m, UID: uid, URL: messageURL(m.ID, uid), Size: meta.Size, Date: meta.InternalDate,
		Flagged: meta.Has(store.FlagFlagged), Draft: meta.Has(store.FlagDraft),
		Images: q.Get("images") == "1", PreferText: q.Get("view") == "text", Subject: "(no subject)"}
	err = s.st.ReadContent(m.ID, uid, func(c *store.Content, top *store.Part) error {
		if env := top.Envelope; env != nil {
			if env.Subject != "" {
				d.Subject = env.Subject
			}
			d.From, d.To, d.Cc, d.ReplyTo = formatAddresses(env.From), formatAddresses(env.To), formatAddresses(env.Cc), formatAddresses(env.ReplyTo)
			if !env.Date.IsZero() {
				d.Date = env.Date
			}
		}
		d.Report = top.Type == "multipart" && top.Subtype == "report"
		if d.Report {
			d.QueueID = reportQueueID(c, top)
		}
		shown, atts := layout(top, !d.PreferText)
		d.Attachments = atts
		for _, sec := range shown {
			p := partAt(top, sec)
			if isText(p, "html") {
				d.Parts = append(d.Parts, bodyPart{Section: sec, HTML: true})
				continue
			}
			body, err := decodeBody(c, p, true)
			if err != nil {
				return err
			}
			d.Parts = append(d.Parts, bodyPart{Section: sec, Text: linkify(string(body))})
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if !meta.Has(store.FlagSeen) {
		if _, err := s.st.StoreFlags(r.Context(), m.ID, []store.UID{uid}, store.FlagsAdd, []string{store.FlagSeen}); err != nil {
			s.log.Warn("web mail: mark seen", "user", sess.address, "err", err)
		}
	}
	mbs, err := s.st.Mailboxes(sess.acct)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	folders := folderViews(mbs)
	for _, f := range folders {
		if f.ID != m.ID {
			d.Targets = append(d.Targets, f)
		}
	}
	d.IsTrash, d.IsJunk = m.SpecialUse == `\Trash`, m.SpecialUse == `\Junk`
	d.Back = mailboxURL(m.ID)
	s.render(w, r, http.StatusOK, "message.html", page{Title: d.Subject, Sess: sess, Folders: folders, Current: m.ID, Data: d})
}

// frameCSP is the policy of a mail's HTML, shown in a sandboxed frame: no
// script, no form, no plugin, no request to the network but, when the
// user allowed them, images.
func frameCSP(images bool) string {
	img := "data:"
	if images {
		img = "data: https: http:"
	}
	return "default-src 'none'; style-src 'unsafe-inline'; img-src " + img + "; font-src 'none'; form-action 'none'; " +
		"frame-ancestors 'self'; base-uri 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
}

const frameHead = `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
	`<style>body{font-family:system-ui,sans-serif;margin:0.5rem;word-wrap:break-word}img{max-width:100%;height:auto}</style></head><body>`

// htmlFrame serves one text/html part of a message, sanitized, for the
// frame of the message page.
func (s *Server) htmlFrame(w http.ResponseWriter, r *http.Request, sess *session) {
	m, uid, err := s.message(sess, r)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	images := r.URL.Query().Get("images") == "1"
	sec := r.URL.Query().Get("part")
	var out []byte
	blocked := 0
	err = s.st.ReadContent(m.ID, uid, func(c *store.Content, top *store.Part) error {
		p := partAt(top, sec)
		if p == nil || !isText(p, "html") {
			return errNotFound
		}
		body, err := decodeBody(c, p, true)
		if err != nil {
			return err
		}
		out, blocked = sanitizeHTML(body, images)
		return nil
	})
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", frameCSP(images))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Blocked-Images", strconv.Itoa(blocked))
	w.Write([]byte(frameHead))
	w.Write(out)
	w.Write([]byte("</body></html>"))
}

// rawSource shows the message as stored, as plain text.
func (s *Server) rawSource(w http.ResponseWriter, r *http.Request, sess *session) {
	m, uid, err := s.message(sess, r)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var raw []byte
	err = s.st.ReadContent(m.ID, uid, func(c *store.Content, _ *store.Part) error {
		raw = c.Slice(0, c.Size())
		return nil
	})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	if r.URL.Query().Get("download") == "1" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("message-%d.eml", uid)}))
	}
	w.Write(raw)
}

// attachment downloads one part: always as a download (never shown by
// the browser, whatever its type), under a file name with no path.
func (s *Server) attachment(w http.ResponseWriter, r *http.Request, sess *session) {
	m, uid, err := s.message(sess, r)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	sec := r.PathValue("part")
	var body []byte
	var name string
	err = s.st.ReadContent(m.ID, uid, func(c *store.Content, top *store.Part) error {
		p := partAt(top, sec)
		if p == nil {
			return errNotFound
		}
		name = filename(p, sec)
		if p.Type == "message" {
			body = c.Slice(p.BodyStart, p.Size())
			return nil
		}
		body, err = decodeBody(c, p, false)
		return err
	})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// contentDisposition is "attachment" with the file name, quoted or, when
// not ASCII, encoded (RFC 6266, RFC 5987).
func contentDisposition(name string) string {
	v := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if v == "" {
		return "attachment"
	}
	return v
}

// markAnswered sets \Answered on the message a reply was sent to.
func (s *Server) markAnswered(ctx context.Context, mbx store.MailboxID, uid store.UID) {
	if _, err := s.st.StoreFlags(ctx, mbx, []store.UID{uid}, store.FlagsAdd, []string{store.FlagAnswered}); err != nil {
		s.log.Warn("web mail: mark answered", "err", err)
	}
}

// reportQueueID is the queue id a delivery report of this server's names
// in its delivery-status part (X-Petrel-Queue-ID, queue/dsn.go), "" when
// there is none or it is not one the queue makes.
func reportQueueID(c *store.Content, top *store.Part) string {
	id := ""
	walkParts(top, "", func(_ string, p *store.Part) {
		if id != "" || p.Type != "message" || (p.Subtype != "delivery-status" && p.Subtype != "global-delivery-status") {
			return
		}
		body, err := decodeBody(c, p, false)
		if err != nil {
			return
		}
		search.EachField(body, "X-Petrel-Queue-ID", func(v string) {
			if id == "" && validQueueID(v) {
				id = v
			}
		})
	})
	return id
}

// validQueueID: what a queue id may be (letters, digits, '.', '-', '_'),
// so that one from a message is safe in a URL and an element id.
func validQueueID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
