package webmail

import (
	"net/http"
)

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, r, http.StatusOK, "settings.html", page{Title: "Settings", Sess: sess})
}

// changePassword sets a new password given the current one (checked under
// the login limiter), and ends the account's other sessions.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, sess *session) {
	cur, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	fail := func(code int, msg string) {
		sess.setFlash(msg)
		s.render(w, r, code, "settings.html", page{Title: "Settings", Sess: sess})
	}
	ip := clientIP(r)
	if err := s.opts.AuthLimiter.Wait(r.Context(), ip, sess.address); err != nil {
		fail(http.StatusTooManyRequests, "Too many failed attempts; try again later.")
		return
	}
	if _, err := s.st.Authenticate(sess.address, cur); err != nil {
		s.opts.AuthLimiter.Failed(ip, sess.address)
		fail(http.StatusForbidden, "The current password is wrong.")
		return
	}
	switch {
	case len(next) < 8:
		fail(http.StatusBadRequest, "The new password must have at least 8 characters.")
		return
	case next != again:
		fail(http.StatusBadRequest, "The new password and its confirmation differ.")
		return
	}
	if err := s.st.SetPassword(r.Context(), sess.address, next); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.sessions.removeAccount(sess.acct, sess.id)
	s.log.Info("web mail: password changed", "user", sess.address, "client", ip)
	sess.setFlash("Password changed. Other browsers logged in to this account were logged out.")
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}
