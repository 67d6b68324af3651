package webmail

import (
	"net/http"
	"strings"
	"time"
	"unicode"

	"petrel/store"
)

// Search bounds: a search reads at most this many messages, for at most
// this long, newest first, and shows at most one page of matches.
const (
	searchMaxScan = 20000
	searchMaxTime = 3 * time.Second
	searchChunk   = 200
)

// query is a parsed search: words to find in any of the fields, or in a
// named one (from:, to:, subject:, body:), and dates (since:, before:).
type query struct {
	any, from, to, subject, body []string
	since, before                time.Time
}

func parseQuery(q string) query {
	var out query
	for _, tok := range splitQuery(q) {
		key, val, ok := strings.Cut(tok, ":")
		val = strings.ToLower(val)
		if !ok || val == "" {
			out.any = append(out.any, strings.ToLower(tok))
			continue
		}
		switch strings.ToLower(key) {
		case "from":
			out.from = append(out.from, val)
		case "to", "cc":
			out.to = append(out.to, val)
		case "subject":
			out.subject = append(out.subject, val)
		case "body", "text":
			out.body = append(out.body, val)
		case "since", "after":
			if t, err := time.Parse("2006-01-02", val); err == nil {
				out.since = t
			}
		case "before":
			if t, err := time.Parse("2006-01-02", val); err == nil {
				out.before = t
			}
		default:
			out.any = append(out.any, strings.ToLower(tok))
		}
	}
	return out
}

// splitQuery splits on spaces, keeping "quoted phrases" whole.
func splitQuery(q string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range q {
		switch {
		case r == '"':
			inQuote = !inQuote
		case unicode.IsSpace(r) && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func (q query) empty() bool {
	return len(q.any)+len(q.from)+len(q.to)+len(q.subject)+len(q.body) == 0 && q.since.IsZero() && q.before.IsZero()
}

func containsAll(hay string, needles []string) bool {
	for _, n := range needles {
		if !strings.Contains(hay, n) {
			return false
		}
	}
	return true
}

func addrText(as []store.Address) string {
	return strings.ToLower(formatAddresses(as))
}

// match reports whether one message matches; the body is decoded only when
// the header fields leave the question open.
func (q query) match(c *store.Content, p *store.Part, date time.Time) bool {
	env := p.Envelope
	if env == nil {
		env = &store.Envelope{}
	}
	if !env.Date.IsZero() {
		date = env.Date
	}
	if (!q.since.IsZero() && date.Before(q.since)) || (!q.before.IsZero() && !date.Before(q.before)) {
		return false
	}
	from, to, subject := addrText(env.From), addrText(append(append([]store.Address{}, env.To...), env.Cc...)), strings.ToLower(env.Subject)
	if !containsAll(from, q.from) || !containsAll(to, q.to) || !containsAll(subject, q.subject) {
		return false
	}
	head := from + "\n" + to + "\n" + subject
	rest := make([]string, 0, len(q.any))
	for _, w := range q.any {
		if !strings.Contains(head, w) {
			rest = append(rest, w)
		}
	}
	if len(rest) == 0 && len(q.body) == 0 {
		return true
	}
	var text strings.Builder
	shown, _ := layout(p, false)
	for _, sec := range shown {
		if b, err := decodeBody(c, partAt(p, sec), true); err == nil {
			text.Write(b)
		}
	}
	body := strings.ToLower(text.String())
	return containsAll(body, rest) && containsAll(body, q.body)
}

// searchPage answers the search box of a folder on the server: the
// messages matching, newest first, at most one page of them.
func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, sess *session) {
	var m *store.Mailbox
	var err error
	if id := r.URL.Query().Get("m"); id != "" {
		m, err = s.mailbox(sess, id)
	} else {
		m, err = s.st.MailboxByName(sess.acct, "INBOX")
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	raw := strings.TrimSpace(r.URL.Query().Get("q"))
	q := parseQuery(raw)
	d := &listData{Mailbox: m, Query: raw, Search: true}
	if q.empty() {
		http.Redirect(w, r, mailboxURL(m.ID), http.StatusSeeOther)
		return
	}
	deadline := time.Now().Add(searchMaxTime)
	var found []store.Message
	var anchor store.UID
	for d.Scanned < searchMaxScan && len(found) < pageSize {
		if time.Now().After(deadline) {
			d.Truncated = true
			break
		}
		msgs, err := s.st.Page(m.ID, anchor, searchChunk, true)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		if len(msgs) == 0 {
			break
		}
		anchor = msgs[len(msgs)-1].UID
		uids := make([]store.UID, len(msgs))
		byUID := make(map[store.UID]store.Message, len(msgs))
		for i, msg := range msgs {
			uids[i] = msg.UID
			byUID[msg.UID] = msg
		}
		err = s.st.ReadContents(m.ID, uids, func(uid store.UID, c *store.Content, p *store.Part) error {
			if len(found) < pageSize && q.match(c, p, byUID[uid].InternalDate) {
				found = append(found, byUID[uid])
			}
			return nil
		})
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Scanned += len(msgs)
	}
	if d.Scanned >= searchMaxScan {
		d.Truncated = true
	}
	if d.Rows, err = s.rows(m.ID, found); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.showList(w, r, sess, m, d)
}
