package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/dnsmx"
	"petrel/dnsmx/dnsmxtest"
	"petrel/queue"
)

// txn is one SMTP transaction a peer accepted.
type txn struct {
	From  string
	Rcpts []string
	Data  []byte
	TLS   bool
	Auth  string
}

// peer is a receiving SMTP server (go-smtp) on a loopback address.
type peer struct {
	srv *smtp.Server
	mu  sync.Mutex
	got []txn
	// rcpt and data, if set, decide the reply to RCPT and to the final dot;
	// n counts the DATA commands seen so far, from 1.
	rcpt   func(to string) error
	data   func(n int) error
	dataN  int
	active int // sessions in a transaction now
	peak   int
	hold   time.Duration // DATA waits this long
	gate   chan struct{} // if set, DATA also waits until it is closed
	user   string        // AUTH PLAIN user required when set
}

func (p *peer) txns() []txn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]txn(nil), p.got...)
}

type session struct {
	p    *peer
	c    *smtp.Conn
	t    txn
	auth bool
}

func (s *session) Reset()        { s.t = txn{} }
func (s *session) Logout() error { return nil }
func (s *session) AuthMechanisms() []string {
	return []string{sasl.Plain}
}
func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.p.user || password != "relaypw" {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		s.t.Auth = username
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.p.user != "" && !s.auth {
		return smtp.ErrAuthRequired
	}
	auth := s.t.Auth
	s.t = txn{From: from, Auth: auth}
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.p.rcpt != nil {
		if err := s.p.rcpt(to); err != nil {
			return err
		}
	}
	s.t.Rcpts = append(s.t.Rcpts, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	p := s.p
	p.mu.Lock()
	p.dataN++
	n := p.dataN
	p.active++
	p.peak = max(p.peak, p.active)
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	time.Sleep(p.hold)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if p.data != nil {
		if err := p.data(n); err != nil {
			return err
		}
	}
	_, s.t.TLS = s.c.TLSConnectionState()
	s.t.Data = b
	p.got = append(p.got, s.t)
	return nil
}

// listenAll listens on port 0 of ips[0] and then the same port on the
// other addresses, retrying on a clash; all peers of a test share the
// queue's one destination port.
func listenAll(t *testing.T, ips ...string) (int, []net.Listener) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(ips) {
			return port, lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatal("no common free port")
	return 0, nil
}

// freePort returns a port free on every ip (the listeners are closed):
// for a peer that is down, or that starts later.
func freePort(t *testing.T, ips ...string) int {
	port, lns := listenAll(t, ips...)
	for _, ln := range lns {
		ln.Close()
	}
	return port
}

func serve(t *testing.T, p *peer, ln net.Listener, mod ...func(*smtp.Server)) *peer {
	t.Helper()
	p.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{p: p, c: c}, nil
	}))
	p.srv.Domain = "peer.test"
	p.srv.AllowInsecureAuth = true
	p.srv.EnableSMTPUTF8 = true
	p.srv.ErrorLog = log.New(io.Discard, "", 0)
	for _, m := range mod {
		m(p.srv)
	}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

// localBox is a LocalDeliverer that keeps what it is given.
type localBox struct {
	mu   sync.Mutex
	msgs []localMsg
}

type localMsg struct {
	from, rcpt string
	data       []byte
}

func (l *localBox) DeliverLocal(_ context.Context, from, rcpt string, msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, localMsg{from, rcpt, append([]byte(nil), msg...)})
	return nil
}

func (l *localBox) all() []localMsg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]localMsg(nil), l.msgs...)
}

// syncBuf is a log sink tests can read while the queue writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a queue under test with its DNS server.
type env struct {
	t    *testing.T
	dns  *dnsmxtest.Server
	q    *queue.Queue
	opts queue.Options
	log  *syncBuf
	box  *localBox
	stop func()
}

// newEnv opens a queue with a fast schedule; mod adjusts its options.
func newEnv(t *testing.T, port int, dns *dnsmxtest.Server, mod ...func(*queue.Options)) *env {
	t.Helper()
	r, err := dnsmx.New(dns.Addr, dnsmx.WithTimeout(2*time.Second), dnsmx.WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dns: dns, log: &syncBuf{}, box: &localBox{}}
	e.opts = queue.Options{
		Path:           filepath.Join(t.TempDir(), "queue.db"),
		Hostname:       "petrel.test",
		Resolver:       r,
		Local:          e.box,
		IsLocal:        func(d string) bool { return d == "local.test" },
		Logger:         slog.New(slog.NewTextHandler(e.log, nil)),
		Port:           port,
		Retry:          []time.Duration{50 * time.Millisecond},
		Jitter:         -1,
		DialTimeout:    time.Second,
		CommandTimeout: 2 * time.Second,
		DataTimeout:    2 * time.Second,
		DelayWarning:   -1,
	}
	for _, m := range mod {
		m(&e.opts)
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	q, err := queue.Open(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.q = q
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	e.stop = func() { cancel(); <-done }
}

func (e *env) close() {
	if e.q == nil {
		return
	}
	e.stop()
	if err := e.q.Close(); err != nil {
		e.t.Errorf("close: %v", err)
	}
	e.q = nil
}

const testMsg = "Received: from client.local.test by petrel.test; Tue, 24 Nov 2026 06:00:00 +0000\r\n" +
	"From: Alice <alice@local.test>\r\nTo: bob@remote.test\r\nSubject: queue test\r\n" +
	"Message-ID: <q1@local.test>\r\n\r\nHello over the queue.\r\n"

func (e *env) enqueue(from string, rcpts ...string) string {
	e.t.Helper()
	id, err := e.q.Enqueue(context.Background(), from, rcpts, []byte(testMsg))
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone waits until id has left the queue, and so has any DSN about it
// (a DSN is queued in the transaction that removes its message).
func (e *env) gone(id string) {
	e.t.Helper()
	waitFor(e.t, id+" to leave the queue", 10*time.Second, func() bool {
		_, _, err := e.q.Show(id)
		return errors.Is(err, queue.ErrNotFound)
	})
	waitFor(e.t, "an empty queue", 10*time.Second, func() bool {
		items, err := e.q.List()
		return err == nil && len(items) == 0
	})
}

// logged waits for a log line with all of subs.
func (e *env) logged(subs ...string) {
	e.t.Helper()
	waitFor(e.t, fmt.Sprintf("a log line with %q", subs), 5*time.Second, func() bool {
		for _, l := range strings.Split(e.log.String(), "\n") {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(l, s)
			}
			if ok {
				return true
			}
		}
		return false
	})
}

func (e *env) item(id string) *queue.Item {
	e.t.Helper()
	it, _, err := e.q.Show(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

func smtpErr(code int, enh smtp.EnhancedCode, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

func contains(t *testing.T, what string, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}
