package webmail

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"petrel/store"
)

// page is what every template gets.
type page struct {
	Title   string
	Sess    *session
	CSRF    string
	User    string
	Folders []folderView
	Current store.MailboxID
	Unread  uint32 // INBOX's, for the title
	Flash   string
	Query   string // the search box's text
	Data    any
}

// folderView is one mailbox in the sidebar and on the folders page.
type folderView struct {
	ID         store.MailboxID
	Name       string // full name
	Label      string // last component, indented by Depth
	Depth      int
	SpecialUse string
	Unread     uint32
	Total      uint32
}

// specialOrder puts the special-use mailboxes first, in this order.
var specialOrder = map[string]int{"INBOX": 0, `\Drafts`: 1, `\Sent`: 2, `\Archive`: 3, `\Junk`: 4, `\Trash`: 5}

func rank(m store.Mailbox) int {
	if m.Name == "INBOX" {
		return 0
	}
	if r, ok := specialOrder[m.SpecialUse]; ok {
		return r
	}
	return 100
}

// folderViews orders an account's mailboxes: special-use first, then the
// others by name (a child after its parent).
func folderViews(mbs []store.Mailbox) []folderView {
	slices.SortStableFunc(mbs, func(a, b store.Mailbox) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := make([]folderView, 0, len(mbs))
	for _, m := range mbs {
		depth := strings.Count(m.Name, string(store.Separator))
		label := m.Name
		if i := strings.LastIndexByte(m.Name, store.Separator); i >= 0 && rank(m) == 100 {
			label = m.Name[i+1:]
		} else {
			depth = 0
		}
		if m.Name == "INBOX" {
			label = "Inbox"
		}
		out = append(out, folderView{ID: m.ID, Name: m.Name, Label: label, Depth: depth, SpecialUse: m.SpecialUse, Unread: m.Unseen, Total: m.Messages})
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if p.Sess != nil {
		p.CSRF = p.Sess.csrf
		p.User = p.Sess.address
		if p.Flash == "" {
			p.Flash = p.Sess.takeFlash()
		}
		if p.Folders == nil {
			mbs, err := s.st.Mailboxes(p.Sess.acct)
			if err != nil {
				s.log.Error("web mail: mailboxes", "user", p.Sess.address, "err", err)
			}
			p.Folders = folderViews(mbs)
		}
		for _, f := range p.Folders {
			if f.Name == "INBOX" {
				p.Unread = f.Unread
			}
		}
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("web mail: render", "template", name, "err", err)
		http.Error(w, "could not show the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// fail answers a request that hit an error: not found for what does not
// exist (or is another user's), else a server error, logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNoMailbox), errors.Is(err, store.ErrNoMessage):
		s.render(w, r, http.StatusNotFound, "error.html", page{Title: "Not found", Sess: sess, Data: "There is no such folder or message (it may have been moved or deleted)."})
	default:
		user := ""
		if sess != nil {
			user = sess.address
		}
		s.log.Error("web mail", "path", r.URL.Path, "user", user, "err", err)
		s.render(w, r, http.StatusInternalServerError, "error.html", page{Title: "Error", Sess: sess, Data: "Something went wrong on the server; try again."})
	}
}

var errNotFound = errors.New("not found")

func mailboxURL(id store.MailboxID) string { return "/m/" + strconv.FormatUint(uint64(id), 10) }

func messageURL(id store.MailboxID, uid store.UID) string {
	return mailboxURL(id) + "/" + strconv.FormatUint(uint64(uid), 10)
}

var funcs = template.FuncMap{
	"mailboxURL": mailboxURL,
	"messageURL": messageURL,
	"size":       humanSize,
	"date":       shortDate,
	"fulldate":   func(t time.Time) string { return t.Format("Mon, 2 Jan 2006 15:04:05 -0700") },
	"addrs":      formatAddresses,
	"indent":     func(n int) string { return strings.Repeat("\u00a0\u00a0", n) },
	"add":        func(a, b int) int { return a + b },
	"int64":      func(n int) int64 { return int64(n) },
}

func humanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.0f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

func shortDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	now := time.Now()
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("2 Jan")
	}
	return t.Format("2 Jan 2006")
}

func formatAddress(a store.Address) string {
	addr := a.Mailbox
	if a.Host != "" {
		addr += "@" + a.Host
	}
	if a.Name != "" {
		return a.Name + " <" + addr + ">"
	}
	return addr
}

func formatAddresses(as []store.Address) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, formatAddress(a))
	}
	return strings.Join(parts, ", ")
}

func plainAddress(a store.Address) string {
	if a.Host == "" {
		return a.Mailbox
	}
	return a.Mailbox + "@" + a.Host
}
