package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"petrel/web"
)

type remover struct {
	mu      sync.Mutex
	removed []string
}

func (r *remover) RemoveListMember(_ context.Context, list, member string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = append(r.removed, list+" "+member)
	return nil
}

func (r *remover) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.removed...)
}

// RFC 8058: a POST of List-Unsubscribe=One-Click to the member's signed
// link removes the member; a GET removes nothing; a link whose token does
// not match, or a POST without the one-click body, is refused.
func TestOneClickUnsubscribe(t *testing.T) {
	rm := &remover{}
	u := &web.Unsubscribe{Key: []byte("0123456789abcdef"), Remover: rm}
	srv := serve(t, web.Options{Unsubscribe: u})
	u.URL = srv.URL + "/unsubscribe"
	link := u.Link("news@example.com", "eve+lists@example.org")
	if !strings.HasPrefix(link, srv.URL+"/unsubscribe?") {
		t.Fatalf("link %s", link)
	}
	post := func(target, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		code, b, _ := do(t, req)
		return code, b
	}

	code, body, _ := get(t, link, "")
	if code != 200 || !strings.Contains(body, `<form method="post">`) || len(rm.all()) != 0 {
		t.Errorf("GET: %d %s (removed %v)", code, body, rm.all())
	}
	if code, _ := post(link, "unsubscribe=yes"); code != 400 || len(rm.all()) != 0 {
		t.Errorf("POST without the one-click body: %d", code)
	}
	forged := strings.Replace(link, url.QueryEscape("eve+lists@example.org"), url.QueryEscape("bob@example.org"), 1)
	if forged == link {
		t.Fatal("could not forge the link")
	}
	if code, _ := post(forged, "List-Unsubscribe=One-Click"); code != 403 || len(rm.all()) != 0 {
		t.Errorf("POST to another member's link with this token: %d", code)
	}
	code, body = post(link, "List-Unsubscribe=One-Click")
	if code != 200 || !strings.Contains(body, "no longer gets the mail of news@example.com") {
		t.Errorf("one-click POST: %d %s", code, body)
	}
	if got := rm.all(); len(got) != 1 || got[0] != "news@example.com eve+lists@example.org" {
		t.Errorf("removed %v", got)
	}
	// Another key does not make the same links.
	other := &web.Unsubscribe{Key: []byte("fedcba9876543210"), URL: u.URL}
	if other.Link("news@example.com", "eve+lists@example.org") == link {
		t.Error("two keys make the same link")
	}
	// Without Unsubscribe, there is no such endpoint.
	plain := serve(t, web.Options{})
	if code, _, _ := get(t, plain.URL+"/unsubscribe?l=a&m=b&t=c", ""); code != 404 {
		t.Errorf("unsubscribe without the option: %d", code)
	}
}
