package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// ListRemover takes a member off a mailing list (cmd/petrel wires the
// store). Removing an address that is no longer a member is no error.
type ListRemover interface {
	RemoveListMember(ctx context.Context, list, member string) error
}

// Unsubscribe is one-click unsubscription from mailing lists (RFC 8058):
// each member's copy of a list message carries its own Link, signed with
// Key, in List-Unsubscribe; a POST of "List-Unsubscribe=One-Click" to it
// removes the member. A GET (a person who clicked the link, or a link
// scanner) removes nothing: it shows a form that posts.
type Unsubscribe struct {
	// Key signs the links; at least 16 bytes.
	Key []byte
	// URL is the endpoint as members reach it, such as
	// "https://mx.example.com/unsubscribe" (its path is what is served).
	URL string
	// Remover removes the member.
	Remover ListRemover
}

// Link returns the one-click URL of member on list.
func (u *Unsubscribe) Link(list, member string) string {
	q := url.Values{"l": {list}, "m": {member}, "t": {u.token(list, member)}}
	sep := "?"
	if strings.Contains(u.URL, "?") {
		sep = "&"
	}
	return u.URL + sep + q.Encode()
}

func (u *Unsubscribe) token(list, member string) string {
	m := hmac.New(sha256.New, u.Key)
	m.Write([]byte(strings.ToLower(list)))
	m.Write([]byte{0})
	m.Write([]byte(strings.ToLower(member)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (u *Unsubscribe) path() string {
	if p, err := url.Parse(u.URL); err == nil && p.Path != "" {
		return p.Path
	}
	return "/unsubscribe"
}

// params returns the list and member of a request whose token is right.
func (u *Unsubscribe) params(r *http.Request) (list, member string, err error) {
	q := r.URL.Query()
	list, member = q.Get("l"), q.Get("m")
	if list == "" || member == "" || !hmac.Equal([]byte(q.Get("t")), []byte(u.token(list, member))) {
		return "", "", errors.New("this unsubscribe link is not valid")
	}
	return list, member, nil
}

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body>{{if .Done}}<p>{{.Member}} no longer gets the mail of {{.List}}.</p>
{{else}}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>Stop sending the mail of {{.List}} to {{.Member}}?</p><button type="submit">Unsubscribe</button></form>
{{end}}</body></html>
`))

func (h *handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	u := h.opts.Unsubscribe
	list, member, err := u.params(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	page := struct {
		List, Member string
		Done         bool
	}{List: list, Member: member}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if r.PostFormValue("List-Unsubscribe") != "One-Click" {
			http.Error(w, `the body must be List-Unsubscribe=One-Click (RFC 8058)`, http.StatusBadRequest)
			return
		}
		if err := u.Remover.RemoveListMember(r.Context(), list, member); err != nil {
			h.log.Error("one-click unsubscribe", "list", list, "member", member, "err", err)
			http.Error(w, "could not unsubscribe, try again later", http.StatusInternalServerError)
			return
		}
		h.log.Info("one-click unsubscribe", "list", list, "member", member)
		page.Done = true
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := unsubscribePage.Execute(w, page); err != nil {
		h.log.Warn("unsubscribe page", "err", fmt.Errorf("render: %w", err))
	}
}
