package webmail

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Cookie names. Over HTTPS the session cookie has the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain: no sibling host
// can set or read it.
const (
	cookieHTTPS      = "__Host-petrel"
	cookieHTTP       = "petrel" // loopback only
	loginCookieHTTPS = "__Host-petrel-login"
	loginCookieHTTP  = "petrel-login"
)

// session is one logged-in browser.
type session struct {
	id      string
	acct    uint64
	address string
	csrf    string
	created time.Time

	mu       sync.Mutex
	lastSeen time.Time
	flash    string // one message for the next page
}

// takeFlash returns the pending message once.
func (s *session) takeFlash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (s *session) setFlash(f string) {
	s.mu.Lock()
	s.flash = f
	s.mu.Unlock()
}

// sessions are kept in memory: a restart logs everyone out.
type sessions struct {
	idle, maxAge time.Duration
	now          func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessions(idle, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{idle: idle, maxAge: maxAge, now: now, byID: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create makes a new session with fresh id and CSRF token (never one the
// browser brought: no session fixation).
func (ss *sessions) create(acct uint64, address string) *session {
	now := ss.now()
	s := &session{id: randomToken(), acct: acct, address: address, csrf: randomToken(), created: now, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	// Drop expired sessions now and then, so that the map does not grow.
	if len(ss.byID)%64 == 63 {
		for id, o := range ss.byID {
			if ss.expired(o, now) {
				delete(ss.byID, id)
			}
		}
	}
	ss.byID[s.id] = s
	return s
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Sub(s.lastSeen) > ss.idle || now.Sub(s.created) > ss.maxAge
}

// get returns the live session of the request's cookie, touching it, or nil.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie(r))
	if err != nil || c.Value == "" {
		return nil
	}
	ss.mu.Lock()
	s := ss.byID[c.Value]
	ss.mu.Unlock()
	if s == nil {
		return nil
	}
	now := ss.now()
	if ss.expired(s, now) {
		ss.remove(s.id)
		return nil
	}
	s.mu.Lock()
	s.lastSeen = now
	s.mu.Unlock()
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.byID, id)
	ss.mu.Unlock()
}

// removeAccount ends every session of an account but keep (a password
// change logs the other browsers out).
func (ss *sessions) removeAccount(acct uint64, keep string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.byID {
		if s.acct == acct && id != keep {
			delete(ss.byID, id)
		}
	}
}

// isHTTPS says whether the browser reached us over HTTPS: directly, or
// through a reverse proxy on this machine that says so
// (X-Forwarded-Proto: https from loopback), so that its cookies are
// Secure too.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || (r.Header.Get("X-Forwarded-Proto") == "https" && isLoopback(r))
}

func sessionCookie(r *http.Request) string {
	if isHTTPS(r) {
		return cookieHTTPS
	}
	return cookieHTTP
}

func loginCookie(r *http.Request) string {
	if isHTTPS(r) {
		return loginCookieHTTPS
	}
	return loginCookieHTTP
}

// setCookie sets a cookie scoped to this host's whole site: HttpOnly,
// SameSite=Strict, Secure over HTTPS, no Domain. maxAge < 0 deletes it;
// 0 makes it last as long as the browser.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteStrictMode})
}

// checkToken compares a form's token with the expected one in constant time.
func checkToken(got, want string) bool {
	return want != "" && len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// handlerFunc is a handler for a logged-in user.
type handlerFunc func(w http.ResponseWriter, r *http.Request, sess *session)

// auth serves h to a logged-in user (others go to the login page) and, on
// a POST, only with the session's CSRF token and, when the browser names
// one, a same-origin Origin.
func (s *Server) auth(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r)
		if sess == nil {
			if r.Method != http.MethodGet || r.URL.Path == "/events" {
				http.Error(w, "not logged in", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+queryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxMessageBytes+1<<20)
			var tok string
			if isMultipart(r) {
				if err := r.ParseMultipartForm(8 << 20); err != nil {
					http.Error(w, "the form is too big or malformed: "+err.Error(), http.StatusRequestEntityTooLarge)
					return
				}
				tok = r.PostFormValue("csrf")
			} else {
				tok = r.PostFormValue("csrf")
			}
			if !checkToken(tok, sess.csrf) {
				http.Error(w, "the form has expired or did not come from this site (CSRF token missing or wrong): reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, sess)
	}
}
