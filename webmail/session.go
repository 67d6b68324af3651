package webmail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"petrel/store"
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

	owner *sessions // its SessionStore, if any, keeps its flash
}

// takeFlash returns the pending message once.
func (s *session) takeFlash() string {
	if s.owner != nil && s.owner.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
		defer cancel()
		f, err := s.owner.db.TakeWebFlash(ctx, sessionKey(s.id))
		if err != nil {
			s.owner.log.Warn("web session: flash", "err", err)
		}
		return f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (s *session) setFlash(f string) {
	if s.owner != nil && s.owner.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
		defer cancel()
		if err := s.owner.db.SetWebFlash(ctx, sessionKey(s.id), f); err != nil {
			s.owner.log.Warn("web session: flash", "err", err)
		}
		return
	}
	s.mu.Lock()
	s.flash = f
	s.mu.Unlock()
}

// SessionStore keeps the web mail's sessions where every node serving the
// web mail finds them (*pgstore.Store is one). It is handed a hash of each
// session's token (sessionKey), never the token the cookie carries.
type SessionStore interface {
	PutWebSession(ctx context.Context, s store.WebSession) error
	// WebSession returns the session of key, or nil and no error.
	WebSession(ctx context.Context, key string) (*store.WebSession, error)
	TouchWebSession(ctx context.Context, key string, at time.Time) error
	SetWebFlash(ctx context.Context, key, flash string) error
	// TakeWebFlash returns the session's flash and clears it, at once.
	TakeWebFlash(ctx context.Context, key string) (string, error)
	DeleteWebSession(ctx context.Context, key string) error
	// DeleteWebSessions ends every session of acct but keep's.
	DeleteWebSessions(ctx context.Context, acct uint64, keep string) error
	// PruneWebSessions deletes the sessions last seen before idle or
	// created before old.
	PruneWebSessions(ctx context.Context, idle, old time.Time) error
}

// sessionStoreTimeout bounds each call to a SessionStore.
const sessionStoreTimeout = 10 * time.Second

// touchEvery is how stale a SessionStore's last-seen time may get before a
// request writes it again (not every request writes).
const touchEvery = time.Minute

// sessionKey is what a SessionStore keeps of a session's token: its
// SHA-256, so that reading the table gives no one a live cookie.
func sessionKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// sessions are kept in memory (a restart logs everyone out), or in a
// SessionStore when several nodes serve the web mail.
type sessions struct {
	idle, maxAge time.Duration
	now          func() time.Time
	db           SessionStore // nil: byID
	log          *slog.Logger

	mu      sync.Mutex
	byID    map[string]*session
	created int // by this node, for pruning now and then
}

func newSessions(idle, maxAge time.Duration, now func() time.Time, db SessionStore, log *slog.Logger) *sessions {
	return &sessions{idle: idle, maxAge: maxAge, now: now, db: db, log: log, byID: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create makes a new session with fresh id and CSRF token (never one the
// browser brought: no session fixation).
func (ss *sessions) create(ctx context.Context, acct uint64, address string) (*session, error) {
	now := ss.now()
	s := &session{id: randomToken(), acct: acct, address: address, csrf: randomToken(), created: now, lastSeen: now, owner: ss}
	if ss.db != nil {
		ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
		defer cancel()
		ss.mu.Lock()
		ss.created++
		prune := ss.created%64 == 1
		ss.mu.Unlock()
		if prune {
			if err := ss.db.PruneWebSessions(ctx, now.Add(-ss.idle), now.Add(-ss.maxAge)); err != nil {
				ss.log.Warn("web sessions: prune", "err", err)
			}
		}
		err := ss.db.PutWebSession(ctx, store.WebSession{Key: sessionKey(s.id), Account: acct, Address: address, CSRF: s.csrf, Created: now, LastSeen: now})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
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
	return s, nil
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
	if ss.db != nil {
		return ss.getStored(r.Context(), c.Value)
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

// getStored is get with a SessionStore: a database that cannot answer
// logs no one in.
func (ss *sessions) getStored(ctx context.Context, token string) *session {
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	key := sessionKey(token)
	ws, err := ss.db.WebSession(ctx, key)
	if err != nil {
		ss.log.Warn("web session: read", "err", err)
		return nil
	}
	if ws == nil {
		return nil
	}
	s := &session{id: token, acct: ws.Account, address: ws.Address, csrf: ws.CSRF, created: ws.Created, lastSeen: ws.LastSeen, owner: ss}
	now := ss.now()
	if ss.expired(s, now) {
		ss.remove(token)
		return nil
	}
	if now.Sub(ws.LastSeen) >= touchEvery {
		if err := ss.db.TouchWebSession(ctx, key, now); err != nil {
			ss.log.Warn("web session: touch", "err", err)
		}
	}
	s.lastSeen = now
	return s
}

func (ss *sessions) remove(id string) {
	if ss.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
		defer cancel()
		if err := ss.db.DeleteWebSession(ctx, sessionKey(id)); err != nil {
			ss.log.Warn("web session: delete", "err", err)
		}
		return
	}
	ss.mu.Lock()
	delete(ss.byID, id)
	ss.mu.Unlock()
}

// removeAccount ends every session of an account but keep (a password
// change logs the other browsers out).
func (ss *sessions) removeAccount(acct uint64, keep string) {
	if ss.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
		defer cancel()
		if err := ss.db.DeleteWebSessions(ctx, acct, sessionKey(keep)); err != nil {
			ss.log.Warn("web sessions: delete the account's", "err", err)
		}
		return
	}
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
