package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"petrel/web"
)

var fmtSscan = fmt.Sscan

// FuzzAutodiscover feeds arbitrary request bodies to the autodiscover
// parser: every answer must be a client error or a valid response, never a
// 5xx or a panic.
func FuzzAutodiscover(f *testing.F) {
	f.Add(strings.Replace(autodiscoverBody, "%s", "you@example.com", 1))
	f.Add("<Autodiscover><Request><EMailAddress>@</EMailAddress></Request></Autodiscover>")
	f.Add("")
	h := web.New(web.Options{Hostname: "mx.example.com", Domains: func() []string { return []string{"example.com"} }})
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/autodiscover/autodiscover.xml", strings.NewReader(body))
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !strings.Contains(rec.Body.String(), "<Server>mx.example.com</Server>") {
				t.Errorf("200 without settings: %s", rec.Body)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("status %d for %q", rec.Code, body)
		}
	})
}
