package webmail

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"petrel/store"
)

func TestLoginAndCookie(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http-loopback", true: "https"}[tls], func(t *testing.T) {
			h := newHarness(t, tls)
			c := h.client()
			resp, _ := c.get("/")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Fatalf("GET / logged out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			_, body := c.get("/login")
			for _, want := range []string{`name="username"`, `name="password"`, `<label for="username">`, `<main id="main">`} {
				if !strings.Contains(body, want) {
					t.Errorf("login page lacks %s", want)
				}
			}
			resp, body = c.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"wrong"}})
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong address or password") {
				t.Errorf("wrong password: %d", resp.StatusCode)
			}
			_, _ = c.get("/login")
			resp, _ = c.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"secret"}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			var sc *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == cookieHTTPS || ck.Name == cookieHTTP {
					sc = ck
				}
			}
			if sc == nil {
				t.Fatal("no session cookie")
			}
			// Cookie scope: this host, whole site, not readable by script,
			// never sent cross-site; Secure (and __Host-) over HTTPS.
			if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Domain != "" || sc.Secure != tls {
				t.Errorf("session cookie %+v", sc)
			}
			if tls != (sc.Name == cookieHTTPS) {
				t.Errorf("cookie name %s over tls=%v", sc.Name, tls)
			}
			resp, _ = c.get("/")
			if loc := resp.Header.Get("Location"); loc != mailboxURL(h.inbox("ann@example.com").ID) {
				t.Errorf("GET / logged in goes to %s", loc)
			}
			c.get(mailboxURL(h.inbox("ann@example.com").ID))
			// Logout ends the session: the old cookie no longer works.
			resp, _ = c.post("/logout", url.Values{})
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("logout: %d", resp.StatusCode)
			}
			old := h.client()
			old.http.Jar.SetCookies(mustURL(h.srv.URL), []*http.Cookie{{Name: sc.Name, Value: sc.Value, Path: "/"}})
			resp, _ = old.get(mailboxURL(h.inbox("ann@example.com").ID))
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("session works after logout: %d", resp.StatusCode)
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// Session fixation: a session id planted before login is never adopted;
// login makes a new id every time.
func TestSessionFixation(t *testing.T) {
	h := newHarness(t, false)
	attacker := h.client()
	attacker.login("bob@example.com", "secret")
	var planted string
	for _, ck := range attacker.http.Jar.Cookies(mustURL(h.srv.URL)) {
		if ck.Name == cookieHTTP {
			planted = ck.Value
		}
	}
	victim := h.client()
	victim.http.Jar.SetCookies(mustURL(h.srv.URL), []*http.Cookie{{Name: cookieHTTP, Value: planted, Path: "/"}})
	victim.get("/login")
	resp, _ := victim.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"secret"}})
	var got string
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieHTTP {
			got = ck.Value
		}
	}
	if got == "" || got == planted {
		t.Fatalf("login kept the planted session id")
	}
	// The planted session (bob's) is gone, and the attacker's browser with
	// it: it can see neither ann's mail nor bob's.
	resp, _ = attacker.get(mailboxURL(h.inbox("ann@example.com").ID))
	if resp.StatusCode == http.StatusOK {
		t.Errorf("attacker's browser sees ann's INBOX")
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, false, func(o *Options) { o.IdleTimeout = time.Hour; o.MaxSessionAge = 3 * time.Hour })
	start := time.Now()
	h.clock.set(start)
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := mailboxURL(h.inbox("ann@example.com").ID)
	for i, tc := range []struct {
		at time.Duration
		ok bool
	}{
		{50 * time.Minute, true},
		{100 * time.Minute, true},  // used 50 min ago: still alive
		{150 * time.Minute, true},  // idle 50 min
		{200 * time.Minute, false}, // over the absolute age
	} {
		h.clock.set(start.Add(tc.at))
		resp, _ := c.get(inbox)
		if (resp.StatusCode == http.StatusOK) != tc.ok {
			t.Errorf("step %d at %v: %d, want ok=%v", i, tc.at, resp.StatusCode, tc.ok)
		}
	}
	c2 := h.client()
	h.clock.set(start)
	c2.login("ann@example.com", "secret")
	h.clock.set(start.Add(61 * time.Minute))
	if resp, _ := c2.get(inbox); resp.StatusCode == http.StatusOK {
		t.Errorf("idle session still alive")
	}
}

// Every POST needs the session's CSRF token and a same-origin Origin (when
// the browser sends one); the login form a pre-session token.
func TestCSRF(t *testing.T) {
	h := newHarness(t, false)
	uid := h.deliver("ann@example.com", "INBOX", simpleMessage("x@example.org", "ann@example.com", "csrf", "hi"))
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := h.inbox("ann@example.com")
	act := url.Values{"mbx": {itoa(uint64(inbox.ID))}, "uid": {itoa(uint64(uid))}, "action": {"flag"}}
	posts := []struct {
		path string
		v    url.Values
	}{
		{"/act", act},
		{"/folders", url.Values{"action": {"create"}, "name": {"Evil"}}},
		{"/send", url.Values{"to": {"bob@example.com"}, "subject": {"x"}, "body": {"x"}}},
		{"/settings/password", url.Values{"current": {"secret"}, "new": {"evilevil"}, "confirm": {"evilevil"}}},
		{"/outbox", url.Values{"id": {"q1"}, "action": {"cancel"}}},
		{"/logout", url.Values{}},
	}
	for _, p := range posts {
		for _, tok := range []string{"", "wrong-token", c.csrf + "x"} {
			v := url.Values{}
			for k, x := range p.v {
				v[k] = x
			}
			v.Set("csrf", tok)
			resp, _ := c.post(p.path, v)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403", p.path, tok, resp.StatusCode)
			}
		}
	}
	// The right token from another site's page (Origin) is refused too.
	req, _ := http.NewRequest("POST", h.srv.URL+"/act", strings.NewReader(url.Values{"csrf": {c.csrf}, "mbx": act["mbx"], "uid": act["uid"], "action": {"flag"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d", resp.StatusCode)
	}
	if fl := h.flags("ann@example.com", "INBOX", uid); len(fl) != 0 {
		t.Errorf("a refused POST changed flags: %v", fl)
	}
	if _, err := h.st.MailboxByName(h.ann.ID, "Evil"); err == nil {
		t.Errorf("a refused POST created a folder")
	}
	if _, err := h.st.Authenticate("ann@example.com", "secret"); err != nil {
		t.Errorf("a refused POST changed the password")
	}
	// Login: without the pre-session token (a login forged by another site).
	anon := h.client()
	resp, _ = anon.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"secret"}, "csrf": {"guess"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without its token: %d", resp.StatusCode)
	}
	// And with it, the flag is set.
	resp, _ = c.post("/act", act)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /act with the token: %d", resp.StatusCode)
	}
	if fl := h.flags("ann@example.com", "INBOX", uid); len(fl) != 1 || fl[0] != store.FlagFlagged {
		t.Errorf("flags after POST: %v", fl)
	}
}

func itoa(n uint64) string { return strconvFormat(n) }

func TestOpenRedirect(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"/m/1?before=5", "/m/1?before=5"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"},
		{"", "/"},
		{"\t//evil.example", "/"},
	} {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
	h := newHarness(t, false)
	c := h.client()
	c.get("/login?next=//evil.example/")
	resp, _ := c.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"secret"}, "next": {"//evil.example/"}})
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("login with next=//evil.example redirects to %q", loc)
	}
}

// Every page forbids framing (clickjacking) and carries the CSP; only the
// mail HTML frame may be framed, and by this site only.
func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, true)
	uid := h.deliver("ann@example.com", "INBOX", "From: a@example.org\nSubject: h\nContent-Type: text/html\n\n<p>hi</p>\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := mailboxURL(h.inbox("ann@example.com").ID)
	for _, path := range []string{"/login", inbox, messageURL(h.inbox("ann@example.com").ID, uid), "/compose", "/folders", "/settings", "/outbox", messageURL(h.inbox("ann@example.com").ID, uid) + "/raw"} {
		resp, _ := c.get(path)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age") {
			t.Errorf("%s: CSP %q XFO %q", path, csp, resp.Header.Get("X-Frame-Options"))
		}
		if strings.Contains(csp, "unsafe-inline") && !strings.Contains(path, "/html") {
			t.Errorf("%s: CSP allows inline: %s", path, csp)
		}
	}
	resp, _ := c.get(messageURL(h.inbox("ann@example.com").ID, uid) + "/html?part=1")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'self'") || !strings.Contains(csp, "sandbox") || strings.Contains(csp, "allow-scripts") ||
		strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("mail frame headers: CSP %q XFO %q", csp, resp.Header.Get("X-Frame-Options"))
	}
}

// Over plain HTTP, a client not on loopback is sent to HTTPS before any
// page (or login form) is served; the redirect keeps only the host.
func TestRedirectToHTTPS(t *testing.T) {
	h := newHarness(t, false, func(o *Options) { o.HTTPSPort = 8443 })
	for _, tc := range []struct{ method, target, host, want string }{
		{"GET", "/login?next=/m/1", "mail.example.com", "https://mail.example.com:8443/login?next=/m/1"},
		{"GET", "/", "mail.example.com:8080", "https://mail.example.com:8443/"},
		{"POST", "/login", "mail.example.com", "https://mail.example.com:8443/login"},
		{"GET", "/", "evil.example/x@y", "https://mx.example.com:8443/"},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		req.Host = tc.host
		req.RemoteAddr = "192.0.2.9:40000"
		w := httptest.NewRecorder()
		h.web.ServeHTTP(w, req)
		if w.Code != http.StatusMovedPermanently && w.Code != http.StatusPermanentRedirect {
			t.Errorf("%s %s: %d", tc.method, tc.target, w.Code)
		}
		if loc := w.Header().Get("Location"); loc != tc.want {
			t.Errorf("%s %s Host %s: Location %q, want %q", tc.method, tc.target, tc.host, loc, tc.want)
		}
		if strings.Contains(w.Body.String(), "password") {
			t.Errorf("login form served over plain HTTP")
		}
	}
	// A reverse proxy on this machine that terminated TLS: Secure cookies.
	req0 := httptest.NewRequest("GET", "/login", nil)
	req0.RemoteAddr = "127.0.0.1:40000"
	req0.Header.Set("X-Forwarded-Proto", "https")
	w0 := httptest.NewRecorder()
	h.web.ServeHTTP(w0, req0)
	if c := w0.Result().Cookies(); w0.Code != http.StatusOK || len(c) != 1 || !c[0].Secure || c[0].Name != loginCookieHTTPS {
		t.Errorf("behind a local proxy: %d %v", w0.Code, c)
	}
	// The header from elsewhere changes nothing: still a redirect.
	req0 = httptest.NewRequest("GET", "/login", nil)
	req0.RemoteAddr = "192.0.2.9:40000"
	req0.Header.Set("X-Forwarded-Proto", "https")
	w0 = httptest.NewRecorder()
	h.web.ServeHTTP(w0, req0)
	if w0.Code != http.StatusMovedPermanently {
		t.Errorf("X-Forwarded-Proto from another host: %d", w0.Code)
	}
	// From loopback, plain HTTP is served.
	req := httptest.NewRequest("GET", "/login", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	h.web.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("loopback GET /login: %d", w.Code)
	}
}

// One user never reaches another's mailbox or message, whatever the id.
func TestOtherUsersMail(t *testing.T) {
	h := newHarness(t, false)
	uid := h.deliver("bob@example.com", "INBOX", simpleMessage("x@example.org", "bob@example.com", "bob's secret", "secret text"))
	h.deliver("bob@example.com", "INBOX", "From: a@example.org\nSubject: att\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\nPDF\n--b--\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	bobInbox := h.inbox("bob@example.com")
	annInbox := h.inbox("ann@example.com")
	m := uint64(bobInbox.ID)
	for _, path := range []string{
		mailboxURL(bobInbox.ID), messageURL(bobInbox.ID, uid), messageURL(bobInbox.ID, uid) + "/raw",
		messageURL(bobInbox.ID, uid) + "/html?part=1", messageURL(bobInbox.ID, 2) + "/part/2",
		"/search?m=" + itoa(m) + "&q=secret", "/compose?reply=" + itoa(m) + "/" + itoa(uint64(uid)),
		"/compose?forward=" + itoa(m) + "/1", "/compose?draft=" + itoa(m) + "/1",
	} {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "secret text") || strings.Contains(body, "bob&#39;s secret") {
			t.Errorf("GET %s as ann: %d", path, resp.StatusCode)
		}
	}
	for _, v := range []url.Values{
		{"mbx": {itoa(m)}, "uid": {itoa(uint64(uid))}, "action": {"delete"}},
		{"mbx": {itoa(m)}, "uid": {itoa(uint64(uid))}, "action": {"flag"}},
		{"mbx": {itoa(uint64(annInbox.ID))}, "uid": {"1"}, "action": {"move"}, "dest": {itoa(m)}},
	} {
		resp, _ := c.post("/act", v)
		if resp.StatusCode == http.StatusSeeOther && v.Get("dest") == "" {
			t.Errorf("POST /act %v as ann: %d", v, resp.StatusCode)
		}
	}
	for _, v := range []url.Values{
		{"action": {"delete"}, "mbx": {itoa(m)}},
		{"action": {"rename"}, "mbx": {itoa(m)}, "name": {"Mine"}},
	} {
		resp, _ := c.post("/folders", v)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST /folders %v as ann: %d", v, resp.StatusCode)
		}
	}
	resp, _ := c.postMultipart("/send", url.Values{"to": {"ann@example.com"}, "subject": {"steal"}, "body": {"x"}, "forward": {itoa(m) + "/" + itoa(uint64(uid))}, "forward_as": {"attachment"}}, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("forwarding bob's message as ann: %d", resp.StatusCode)
	}
	if b, _ := h.st.MailboxByID(bobInbox.ID); b.Messages != 2 {
		t.Errorf("bob's INBOX has %d messages", b.Messages)
	}
	if fl := h.flags("bob@example.com", "INBOX", uid); len(fl) != 0 {
		t.Errorf("bob's message flags changed: %v", fl)
	}
	// The outbox shows and acts on one's own queued messages only.
	h.queue.Enqueue(t.Context(), "bob@example.com", []string{"x@example.org"}, []byte("x"))
	_, body := c.get("/outbox")
	if strings.Contains(body, "x@example.org") {
		t.Errorf("ann's outbox shows bob's message")
	}
	resp, _ = c.post("/outbox", url.Values{"id": {"q1"}, "action": {"cancel"}})
	if resp.StatusCode != http.StatusNotFound || len(h.queue.acts) != 0 {
		t.Errorf("ann cancelled bob's queued message: %d %v", resp.StatusCode, h.queue.acts)
	}
}

func TestPathTraversal(t *testing.T) {
	h := newHarness(t, false)
	uid := h.deliver("ann@example.com", "INBOX", "From: a@example.org\nSubject: att\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b\nContent-Type: text/html\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\n<script>x</script>\n--b\nContent-Type: application/octet-stream; name=\"..\\\\..\\\\win.ini\"\n\nINI\n--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"a\r\nSet-Cookie: x.png\"\n\nPNG\n--b--\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	base := messageURL(h.inbox("ann@example.com").ID, uid)
	for _, tc := range []struct{ part, name string }{{"2", "passwd"}, {"3", "win.ini"}} {
		resp, body := c.get(base + "/part/" + tc.part)
		cd := resp.Header.Get("Content-Disposition")
		if resp.StatusCode != http.StatusOK || cd != `attachment; filename=`+tc.name || resp.Header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("part %s: %d %q %q", tc.part, resp.StatusCode, cd, resp.Header.Get("Content-Type"))
		}
		if tc.part == "2" && body != "<script>x</script>" {
			t.Errorf("part 2 body %q", body)
		}
	}
	resp, _ := c.get(base + "/part/4")
	if cd := resp.Header.Get("Content-Disposition"); strings.ContainsAny(cd, "\r\n") || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("part 4 disposition %q", cd)
	}
	for _, p := range []string{"../1", "..%2f..%2f1", "0", "9", "1.1.1"} {
		if resp, body := c.get(base + "/part/" + p); resp.StatusCode == http.StatusOK || strings.Contains(body, "a@example.org") {
			t.Errorf("part %s: %d", p, resp.StatusCode)
		}
	}
	// A folder name with dots and slashes stays a mailbox name of ann's.
	resp, _ = c.post("/folders", url.Values{"action": {"create"}, "name": {"../../bob@example.com/INBOX"}})
	if resp.StatusCode != http.StatusBadRequest {
		// "../../x" has empty components? It is refused or made under ann's.
		if _, err := h.st.MailboxByName(h.ann.ID, "../../bob@example.com/INBOX"); err != nil {
			t.Errorf("folder create: %d, and not made as ann's: %v", resp.StatusCode, err)
		}
	}
	if b := h.inbox("bob@example.com"); b.Messages != 0 {
		t.Errorf("bob's INBOX touched")
	}
}

// Subject and address fields cannot add header fields.
func TestHeaderInjection(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	c.get("/compose")
	resp, body := c.postMultipart("/send", url.Values{"to": {"carol@example.org"}, "subject": {"hi\r\nBcc: victim@example.net\r\nX-Evil: 1"}, "body": {"x"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	msg := string(h.queue.last())
	if strings.Contains(msg, "\r\nBcc:") || strings.Contains(msg, "\r\nX-Evil:") {
		t.Errorf("subject injected header fields:\n%s", msg)
	}
	for _, to := range []string{"carol@example.org\r\nBcc: victim@example.net", "carol@example.org\nCc: v@example.net", "<carol@example.org>\r\n\r\nbody"} {
		n := len(h.queue.items)
		resp, body := c.postMultipart("/send", url.Values{"to": {to}, "subject": {"x"}, "body": {"x"}}, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Not sent") {
			t.Errorf("to %q: %d", to, resp.StatusCode)
		}
		if len(h.queue.items) != n {
			t.Errorf("to %q: queued", to)
		}
	}
}

func TestLoginThrottle(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	codes := []int{}
	for range 7 {
		c.get("/login")
		resp, _ := c.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"guess"}})
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != http.StatusUnauthorized || codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("codes of repeated wrong logins: %v", codes)
	}
	// Locked out: even the right password is not checked now.
	c.get("/login")
	resp, body := c.post("/login", url.Values{"username": {"ann@example.com"}, "password": {"secret"}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed logins") {
		t.Errorf("right password while locked out: %d", resp.StatusCode)
	}
}
