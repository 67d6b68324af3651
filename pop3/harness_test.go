package pop3_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/pop3"
	"petrel/store"
	"petrel/store/storetest"
	"petrel/tlsconf"
)

// env is a running POP3 server over a throw-away store with one account,
// alice@example.org (password "secret").
type env struct {
	st        *store.Store
	acct      *store.Account
	inbox     *store.Mailbox
	srv       *pop3.Server
	addr      string
	clientTLS *tls.Config
	serverTLS *tls.Config
}

// newEnv starts a server on 127.0.0.1:0. opts may change the Options.
func newEnv(t testing.TB, opts ...func(*pop3.Options)) *env {
	t.Helper()
	st := storetest.Open(t)
	e := &env{st: st, acct: storetest.Account(t, st, "alice@example.org")}
	e.inbox = storetest.Inbox(t, st, e.acct)
	var err error
	e.serverTLS, e.clientTLS, err = tlsconf.ForTest()
	if err != nil {
		t.Fatal(err)
	}
	o := pop3.Options{
		Store:      st,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLSConfig:  e.serverTLS,
		Hostname:   "pop.example.org",
		LoginDelay: -1,
	}
	for _, f := range opts {
		f(&o)
	}
	e.srv = pop3.New(o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	e.serve(t, l)
	return e
}

// serve runs e.srv on l until the test ends.
func (e *env) serve(t testing.TB, l net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, pop3.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}

// deliver puts messages into alice's INBOX and returns their UIDs.
func (e *env) deliver(t testing.TB, bodies ...string) []store.UID {
	t.Helper()
	var uids []store.UID
	for _, b := range bodies {
		d, err := e.st.Deliver(context.Background(), &store.Delivery{
			Body:    []byte(b),
			Targets: []store.Target{{Account: e.acct.ID}},
		})
		if err != nil {
			t.Fatalf("deliver: %v", err)
		}
		uids = append(uids, d[0].UID)
	}
	return uids
}

// inboxUIDs lists the UIDs in alice's INBOX.
func (e *env) inboxUIDs(t testing.TB) []store.UID {
	t.Helper()
	msgs, err := e.st.List(e.inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.UID
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

// client is a raw POP3 client over a real socket.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dial connects and reads the greeting.
func (e *env) dial(t testing.TB) *client {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func newClient(t testing.TB, conn net.Conn) *client {
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return c
}

// login dials and logs in as alice.
func (e *env) login(t testing.TB) *client {
	t.Helper()
	c := e.dial(t)
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret", "+OK")
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one reply line without CRLF.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends line and returns the first reply line.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// expect sends line and checks that the reply starts with prefix.
func (c *client) expect(line, prefix string) string {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("%q: got %q, want prefix %q", line, r, prefix)
	}
	return r
}

// body reads the rest of a multi-line reply and returns it exactly as
// sent, un-dot-stuffed, CRLFs kept, without the terminating ".CRLF".
func (c *client) body() []byte {
	c.t.Helper()
	var out []byte
	for {
		l, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			out = append(out, l...)
			continue
		}
		if err != nil {
			c.t.Fatalf("read multi-line reply: %v", err)
		}
		if string(l) == ".\r\n" {
			return out
		}
		if l[0] == '.' && (len(out) == 0 || out[len(out)-1] == '\n') {
			l = l[1:]
		}
		out = append(out, l...)
	}
}

// lines reads the rest of a multi-line reply as lines.
func (c *client) lines() []string {
	c.t.Helper()
	b := strings.TrimSuffix(string(c.body()), "\r\n")
	if b == "" {
		return nil
	}
	return strings.Split(b, "\r\n")
}

// expectEOF checks that the server closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	if l, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("got %q, want the connection closed", l)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testCA returns a server TLS config with a self-signed certificate for
// localhost and 127.0.0.1, and that certificate in a PEM file for clients
// outside Go (fetchmail, Python).
func testCA(t testing.TB) (*tls.Config, string) {
	t.Helper()
	certPEM, keyPEM, err := tlsconf.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, path
}
