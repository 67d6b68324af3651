package webmail

import (
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// pageCSP is the policy of every page but the mail HTML frame: scripts and
// styles only from our own embedded files, no inline script, no other
// host, no framing by anyone.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"

func setSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // and so browsers send Origin with our forms
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if isHTTPS(r) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// isLoopback reports whether the request comes from this machine.
func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redirectHTTPS sends a plain-HTTP request to the same path over HTTPS.
// Only the host of the request is kept (never a port or anything else the
// client sent), so the redirect cannot be steered elsewhere.
func (s *Server) redirectHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@ ") {
		host = s.opts.Hostname
	}
	if s.opts.HTTPSPort != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(s.opts.HTTPSPort))
	}
	u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	http.Redirect(w, r, u.String(), code)
}

// sameOrigin checks the Origin a browser sends with a POST: absent (an old
// browser, or a form without JavaScript in some) is let through to the
// CSRF token check; present, it must name this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
}

// safeNext returns a local path to go to after login: a path on this site
// ("/m/1"), never another site ("//evil.example", "/\evil", "https://…").
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2000 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	if strings.ContainsAny(next, "\r\n\t\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func queryEscape(s string) string { return url.QueryEscape(s) }

// staticHandler serves the embedded assets, cacheable for a day.
func staticHandler(fsys fs.FS) http.Handler {
	fsrv := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}
