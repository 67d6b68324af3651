package mta

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/store"
	"petrel/store/storetest"
	"petrel/tlsconf"
)

// fakeQueue records what the MTA queues.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []queued
	err  error
}

type queued struct {
	from  string
	rcpts []string
	msg   []byte
}

func (q *fakeQueue) Enqueue(ctx context.Context, from string, rcpts []string, msg []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return "", q.err
	}
	q.msgs = append(q.msgs, queued{from, rcpts, msg})
	return fmt.Sprintf("q%d", len(q.msgs)), nil
}

func (q *fakeQueue) all() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queued(nil), q.msgs...)
}

type testServer struct {
	mta       *MTA
	store     *store.Store
	queue     *fakeQueue
	smtpAddr  string
	subAddr   string
	clientTLS *tls.Config
}

// newTestServer runs an MTA for hamburger.edu on loopback, with bob and
// alice as local users.
func newTestServer(t testing.TB, tweak ...func(*Options)) *testServer {
	t.Helper()
	st := storetest.Open(t)
	storetest.Account(t, st, "bob@hamburger.edu")
	storetest.Account(t, st, "alice@hamburger.edu")
	srvTLS, cliTLS, err := tlsconf.ForTest()
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeQueue{}
	opts := Options{
		Hostname:      "mx.hamburger.edu",
		IsLocalDomain: func(d string) bool { return d == "hamburger.edu" },
		Store:         st,
		Queue:         q,
		TLSConfig:     srvTLS,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		PlusSeparator: "+",
	}
	for _, f := range tweak {
		f(&opts)
	}
	m := New(opts)
	ts := &testServer{mta: m, store: st, queue: q, clientTLS: cliTLS}
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.smtpAddr, ts.subAddr = l1.Addr().String(), l2.Addr().String()
	go m.ServeSMTP(l1)
	go m.ServeSubmission(l2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	})
	return ts
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dialog is a raw SMTP connection for typed-by-hand sessions.
type dialog struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t testing.TB, addr string) *dialog {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return dialConn(t, c)
}

// dialConn is a dialog over c (a TLS connection, say).
func dialConn(t testing.TB, c net.Conn) *dialog {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &dialog{t: t, conn: c, tp: textproto.NewConn(c)}
}

// send writes a line and returns the (possibly multi-line) reply's code
// and text.
func (d *dialog) send(line string) (int, string) {
	d.t.Helper()
	if err := d.tp.PrintfLine("%s", line); err != nil {
		d.t.Fatalf("send %q: %v", line, err)
	}
	return d.read()
}

func (d *dialog) read() (int, string) {
	d.t.Helper()
	code, msg, err := d.tp.ReadResponse(0)
	if err != nil && code == 0 {
		d.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

// expect sends line and fails the test unless the reply has code.
func (d *dialog) expect(line string, code int) string {
	d.t.Helper()
	got, msg := d.send(line)
	if got != code {
		d.t.Fatalf("%q: got %d %s, want %d", line, got, msg, code)
	}
	return msg
}

func (d *dialog) startTLS(cfg *tls.Config) {
	d.t.Helper()
	d.expect("STARTTLS", 220)
	tc := tls.Client(d.conn, cfg)
	if err := tc.Handshake(); err != nil {
		d.t.Fatal(err)
	}
	d.conn = tc
	d.tp = textproto.NewConn(tc)
}

func inbox(t testing.TB, s *store.Store, addr string) (*store.Mailbox, [][]byte) {
	t.Helper()
	mb, _, out := mailbox(t, s, addr, "INBOX")
	return mb, out
}

// mailbox returns the named mailbox of addr, its messages' metadata and
// their bytes.
func mailbox(t testing.TB, s *store.Store, addr, name string) (*store.Mailbox, []store.Message, [][]byte) {
	t.Helper()
	a, err := s.AccountByAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.MailboxByName(a.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.List(mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := s.ReadMessage(mb.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return mb, msgs, out
}

var _ = bufio.NewReader

// sendPlain sends one message over a plain connection, as a server on the
// Internet without STARTTLS would.
func sendPlain(t testing.TB, addr, from string, to []string, r io.Reader) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, r); err != nil {
		return err
	}
	return c.Quit()
}
