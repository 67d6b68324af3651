package webmail

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"petrel/search"
	"petrel/store"

	"github.com/emersion/go-imap/v2"
)

// Search bounds: a search goes through the whole folder, newest first,
// until it has a page of matches; one request works for at most
// Options.SearchTime (searchMaxTime by default), then offers to go on
// from where it stopped.
const (
	searchMaxTime = 5 * time.Second
	searchChunk   = search.Batch
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

// criteria is the query as the server's SEARCH keys (package search, as
// IMAP's SEARCH evaluates them): a word anywhere is FROM, TO, CC, SUBJECT
// or BODY; to: is TO or CC; dates are the sent dates (SENTSINCE,
// SENTBEFORE).
func (q query) criteria() *imap.SearchCriteria {
	hdr := func(name, v string) imap.SearchCriteria {
		return imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: name, Value: v}}}
	}
	or := func(list ...imap.SearchCriteria) imap.SearchCriteria {
		c := list[len(list)-1]
		for i := len(list) - 2; i >= 0; i-- {
			c = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{list[i], c}}}
		}
		return c
	}
	c := &imap.SearchCriteria{SentSince: q.since, SentBefore: q.before}
	for _, v := range q.from {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "From", Value: v})
	}
	for _, v := range q.subject {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "Subject", Value: v})
	}
	c.Body = append(c.Body, q.body...)
	for _, v := range q.to {
		c.And(&imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{hdr("To", v), hdr("Cc", v)}}})
	}
	for _, v := range q.any {
		w := or(hdr("From", v), hdr("To", v), hdr("Cc", v), hdr("Subject", v), imap.SearchCriteria{Body: []string{v}})
		c.And(&w)
	}
	return c
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
	crit := q.criteria()
	var opts search.Options
	if search.NeedsContent(crit) && !search.NeedsStructure(crit) {
		// Sender, recipients, subject only: from the folder's cache.
		opts.Cached = s.cachedSearch(m, crit)
	}
	deadline := time.Now().Add(s.opts.SearchTime)
	var found []store.Message
	anchor, _ := parseUID(r.URL.Query().Get("before"))
	more := false // a match beyond this page, or a part of the folder not searched
	for !more {
		msgs, err := s.st.Page(m.ID, anchor, searchChunk, true)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		if len(msgs) == 0 {
			break
		}
		uids := make([]store.UID, len(msgs))
		for i, msg := range msgs {
			uids[i] = msg.UID
		}
		last := msgs[len(msgs)-1].UID
		err = search.Run(r.Context(), s.st, m.ID, uids, crit, opts, func(msg *search.Msg) bool {
			if len(found) == pageSize {
				more = true
				return false
			}
			found = append(found, *msg.Meta)
			return true
		})
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		if more {
			last = found[len(found)-1].UID
		}
		anchor = last
		d.Scanned += len(msgs)
		if !more && time.Now().After(deadline) {
			// Out of time, after one batch at least: go on from here.
			more, d.Truncated = true, true
		}
	}
	if more {
		d.Older = "/search?" + url.Values{"m": {strconv.FormatUint(uint64(m.ID), 10)}, "q": {raw}, "before": {strconv.FormatUint(uint64(anchor), 10)}}.Encode()
	}
	if d.Rows, err = s.rows(m.ID, found); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.showList(w, r, sess, m, d)
}
