package webmail

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"petrel/authlimit"
)

type loginData struct {
	Token, Next, Username, Error string
}

// loginPage shows the login form, with a fresh pre-session CSRF token in a
// cookie and in the form (double submit): a login cannot be forged from
// another site, which would log the victim in as the attacker.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, code int, d loginData) {
	d.Token = randomToken()
	setCookie(w, r, loginCookie(r), d.Token, 0)
	s.render(w, r, code, "login.html", page{Title: "Log in", Data: d})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// login checks the account's password, as IMAP does and under the same
// limiter, and starts a new session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	d := loginData{Next: next, Username: username}
	c, err := r.Cookie(loginCookie(r))
	if err != nil || !checkToken(r.PostFormValue("csrf"), c.Value) {
		d.Error = "The login form expired or did not come from this site. Please try again."
		s.showLogin(w, r, http.StatusForbidden, d)
		return
	}
	if username == "" || password == "" {
		d.Error = "Enter your address and password."
		s.showLogin(w, r, http.StatusBadRequest, d)
		return
	}
	ip := clientIP(r)
	lim := s.opts.AuthLimiter
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	if err := lim.Wait(ctx, ip, username); err != nil {
		d.Error = "Too many failed logins from your address. Try again later."
		if !errors.Is(err, authlimit.ErrLockedOut) {
			d.Error = "The login took too long. Try again."
		}
		s.showLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	acct, err := s.st.Authenticate(username, password)
	if err != nil {
		lim.Failed(ip, username)
		if f := s.opts.OnAuthFailure; f != nil {
			f()
		}
		s.log.Warn("auth failed", "listener", "web", "client", ip, "user", username)
		d.Error = "Wrong address or password."
		s.showLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	lim.Succeeded(ip, username)
	// A new session, whatever cookie the browser brought.
	if old := s.sessions.get(r); old != nil {
		s.sessions.remove(old.id)
	}
	sess, err := s.sessions.create(r.Context(), acct.ID, acct.Address)
	if err != nil {
		s.log.Error("web login: session", "client", ip, "user", acct.Address, "err", err)
		d.Error = "The server cannot log you in now; try again in a moment."
		s.showLogin(w, r, http.StatusServiceUnavailable, d)
		return
	}
	setCookie(w, r, sessionCookie(r), sess.id, 0)
	setCookie(w, r, loginCookie(r), "", -1)
	s.log.Info("web login", "client", ip, "user", acct.Address)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	s.sessions.remove(sess.id)
	setCookie(w, r, sessionCookie(r), "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
