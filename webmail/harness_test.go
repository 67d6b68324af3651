package webmail

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/authlimit"
	"petrel/mta"
	"petrel/queue"
	"petrel/store"
	"petrel/store/storetest"
)

// fakeQueue is the MTA's queue and the web mail's outbox in these tests.
type fakeQueue struct {
	mu    sync.Mutex
	items []queue.Item
	msgs  [][]byte
	acts  []string
}

func (q *fakeQueue) Enqueue(ctx context.Context, from string, rcpts []string, msg []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := fmt.Sprintf("q%d", len(q.items)+1)
	it := queue.Item{ID: id, From: from, Arrived: time.Now(), Size: len(msg)}
	for _, r := range rcpts {
		it.Rcpts = append(it.Rcpts, queue.Rcpt{Addr: r, State: queue.Pending, NextAttempt: time.Now().Add(time.Hour)})
	}
	q.items = append(q.items, it)
	q.msgs = append(q.msgs, msg)
	return id, nil
}

func (q *fakeQueue) List() ([]queue.Item, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queue.Item(nil), q.items...), nil
}

func (q *fakeQueue) Show(id string) (*queue.Item, []byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range q.items {
		if it.ID == id {
			return &it, q.msgs[i], nil
		}
	}
	return nil, nil, queue.ErrNotFound
}

func (q *fakeQueue) Retry(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.acts = append(q.acts, "retry "+id)
	return nil
}

func (q *fakeQueue) Delete(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.acts = append(q.acts, "delete "+id)
	for i, it := range q.items {
		if it.ID == id {
			q.items = append(q.items[:i], q.items[i+1:]...)
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	return nil
}

func (q *fakeQueue) last() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return nil
	}
	return q.msgs[len(q.msgs)-1]
}

type harness struct {
	t     testing.TB
	st    *store.Store
	web   *Server
	srv   *httptest.Server
	queue *fakeQueue
	mta   *mta.MTA
	ann   *store.Account // ann@example.com, password "secret"
	bob   *store.Account // bob@example.com
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newHarness serves the web mail on loopback (plain HTTP, or HTTPS with
// tls), with ann and bob as users of example.com.
func newHarness(t testing.TB, tls bool, tweak ...func(*Options)) *harness {
	t.Helper()
	st := storetest.Open(t)
	h := &harness{t: t, st: st, queue: &fakeQueue{}, clock: &fakeClock{}}
	h.ann = storetest.Account(t, st, "ann@example.com")
	h.bob = storetest.Account(t, st, "bob@example.com")
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.mta = mta.New(mta.Options{Hostname: "mx.example.com", IsLocalDomain: func(d string) bool { return d == "example.com" },
		Store: st, Queue: h.queue, Logger: log})
	opts := Options{Store: st, Sender: h.mta, Outbox: h.queue, Hostname: "mx.example.com", Logger: log, Now: h.clock.now,
		AuthLimiter: authlimit.New(authlimit.Options{FailDelay: time.Millisecond, MaxFailDelay: time.Millisecond, LockoutFailures: 5})}
	for _, f := range tweak {
		f(&opts)
	}
	h.web = New(opts)
	if tls {
		h.srv = httptest.NewTLSServer(h.web)
	} else {
		h.srv = httptest.NewServer(h.web)
	}
	t.Cleanup(h.srv.Close)
	return h
}

// client is one browser: a cookie jar, no automatic redirects.
type client struct {
	h    *harness
	http *http.Client
	csrf string
}

func (h *harness) client() *client {
	jar, _ := cookiejar.New(nil)
	c := h.srv.Client()
	hc := &http.Client{Transport: c.Transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &client{h: h, http: hc}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and remembers its CSRF token.
func (c *client) get(path string) (*http.Response, string) {
	c.h.t.Helper()
	resp, err := c.http.Get(c.h.srv.URL + path)
	if err != nil {
		c.h.t.Fatalf("GET %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = html.UnescapeString(string(m[1]))
	}
	return resp, string(b)
}

// post posts a form, with the CSRF token unless the values carry one.
func (c *client) post(path string, v url.Values) (*http.Response, string) {
	c.h.t.Helper()
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", c.csrf)
	}
	resp, err := c.http.PostForm(c.h.srv.URL+path, v)
	if err != nil {
		c.h.t.Fatalf("POST %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// postMultipart posts a multipart form with files (name -> content).
func (c *client) postMultipart(path string, v url.Values, files map[string]string) (*http.Response, string) {
	c.h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", c.csrf)
	}
	for k, vs := range v {
		for _, x := range vs {
			mw.WriteField(k, x)
		}
	}
	for name, content := range files {
		fw, _ := mw.CreateFormFile("attachments", name)
		io.WriteString(fw, content)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.h.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatalf("POST %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// login logs in and fails the test if it does not work.
func (c *client) login(user, password string) {
	c.h.t.Helper()
	c.get("/login")
	resp, body := c.post("/login", url.Values{"username": {user}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		c.h.t.Fatalf("login %s: %d\n%s", user, resp.StatusCode, body)
	}
	c.get("/")
	c.get(mailboxURL(c.h.inbox(user).ID))
}

func (h *harness) account(addr string) *store.Account {
	a, err := h.st.AccountByAddress(addr)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) inbox(addr string) *store.Mailbox { return h.mbx(addr, "INBOX") }

func (h *harness) mbx(addr, name string) *store.Mailbox {
	h.t.Helper()
	m, err := h.st.MailboxByName(h.account(addr).ID, name)
	if err != nil {
		h.t.Fatalf("mailbox %s of %s: %v", name, addr, err)
	}
	return m
}

// deliver puts a message in a mailbox and returns its UID.
func (h *harness) deliver(addr, mailbox, msg string, flags ...string) store.UID {
	h.t.Helper()
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	d, err := h.st.Append(context.Background(), h.mbx(addr, mailbox).ID, []byte(msg), flags, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return d.UID
}

func (h *harness) flags(addr, mailbox string, uid store.UID) []string {
	h.t.Helper()
	ms, err := h.st.Messages(h.mbx(addr, mailbox).ID, []store.UID{uid})
	if err != nil || len(ms) == 0 {
		h.t.Fatalf("message %d in %s: %v", uid, mailbox, err)
	}
	return ms[0].Flags
}

func simpleMessage(from, to, subject, body string) string {
	return "From: " + from + "\nTo: " + to + "\nSubject: " + subject + "\nDate: Mon, 30 Nov 2026 10:00:00 +0000\nMessage-ID: <" +
		strings.ReplaceAll(subject, " ", ".") + "@example.org>\n\n" + body + "\n"
}

func strconvFormat(n uint64) string { return strconv.FormatUint(n, 10) }
