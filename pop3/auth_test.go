package pop3_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/internal/testenv"
	"petrel/pop3"
)

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

// TestAuthPlain runs SASL PLAIN (RFC 5034) with and without an initial
// response, and its failures.
func TestAuthPlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	cases := []struct {
		name  string
		steps []step
	}{
		{"initial response", []step{{"AUTH PLAIN " + plain("", "alice@example.org", "secret"), "+OK maildrop has 1 message"}}},
		{"authzid is the user", []step{{"AUTH PLAIN " + plain("alice@example.org", "alice@example.org", "secret"), "+OK"}}},
		{"mechanism in lower case", []step{{"auth plain " + plain("", "alice@example.org", "secret"), "+OK"}}},
		{"continuation", []step{{"AUTH PLAIN", "+ "}, {plain("", "alice@example.org", "secret"), "+OK maildrop has 1 message"}}},
		{"cancelled", []step{{"AUTH PLAIN", "+ "}, {"*", "-ERR authentication cancelled"}, {"STAT", "-ERR"}}},
		{"wrong password", []step{{"AUTH PLAIN " + plain("", "alice@example.org", "nope"), "-ERR [AUTH]"}}},
		{"other authzid", []step{{"AUTH PLAIN " + plain("bob@example.org", "alice@example.org", "secret"), "-ERR [AUTH] authorization identity"}}},
		{"bad base64", []step{{"AUTH PLAIN !!!", "-ERR [AUTH] invalid base64"}}},
		{"empty response", []step{{"AUTH PLAIN =", "-ERR [AUTH] malformed"}}},
		{"too many arguments", []step{{"AUTH PLAIN a b", "-ERR usage"}}},
		{"password with spaces via USER/PASS fails cleanly", []step{{"USER alice@example.org", "+OK"}, {"PASS se cret", "-ERR [AUTH]"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			for _, s := range tc.steps {
				c.expect(s.send, s.want)
			}
			c.expect("QUIT", "+OK")
		})
	}
}

// TestSTLS upgrades a plain connection (RFC 2595) and logs in over TLS;
// commands pipelined behind STLS are discarded, not run inside TLS.
func TestSTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	c := e.dial(t)
	c.send("STLS\r\nUSER alice@example.org")
	if r := c.line(); r != "+OK begin TLS negotiation" {
		t.Fatalf("STLS: %q", r)
	}
	tc := tls.Client(c.conn, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c = newClient(t, tc)
	c.expect("PASS secret", "-ERR USER first") // the injected USER was dropped
	c.expect("CAPA", "+OK")
	if capa := strings.Join(c.lines(), "|"); strings.Contains(capa, "STLS") || !strings.Contains(capa, "USER") {
		t.Errorf("CAPA over TLS = %q: want USER and no STLS", capa)
	}
	c.expect("STLS", "-ERR already using TLS")
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret", "+OK maildrop has 1 message")
	c.expect("QUIT", "+OK")
}

// TestSTLSUnavailable: without a TLS config STLS is neither offered nor
// accepted.
func TestSTLSUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *pop3.Options) { o.TLSConfig = nil })
	c := e.dial(t)
	c.expect("CAPA", "+OK")
	if capa := strings.Join(c.lines(), "|"); strings.Contains(capa, "STLS") {
		t.Errorf("CAPA = %q offers STLS without a certificate", capa)
	}
	c.expect("STLS", "-ERR STLS not available")
}

// TestImplicitTLS serves a tls.Listener (port 995).
func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	l := tls.NewListener(listen(t), e.serverTLS)
	go e.srv.Serve(l)
	conn, err := tls.Dial("tcp", l.Addr().String(), e.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	c.expect("CAPA", "+OK") // the greeting
	c.lines()
	c.expect("CAPA", "+OK")
	if capa := strings.Join(c.lines(), "|"); strings.Contains(capa, "STLS") {
		t.Errorf("CAPA on implicit TLS = %q offers STLS", capa)
	}
	c.expect("AUTH PLAIN "+plain("", "alice@example.org", "secret"), "+OK maildrop has 1 message")
	c.expect("QUIT", "+OK")
}

// TestPlaintextRefusedOffLoopback: from a non-loopback address, USER,
// PASS and AUTH PLAIN need TLS first (RFC 2595 section 2.2).
func TestPlaintextRefusedOffLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(testenv.RemoteListener(l))
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	c.line()
	c.expect("CAPA", "+OK")
	if capa := strings.Join(c.lines(), "|"); strings.Contains(capa, "USER") || strings.Contains(capa, "SASL") || !strings.Contains(capa, "STLS") {
		t.Errorf("CAPA off loopback before TLS = %q: want STLS, no USER or SASL", capa)
	}
	c.expect("USER alice@example.org", "-ERR [AUTH] plaintext login needs TLS")
	c.expect("PASS secret", "-ERR [AUTH] plaintext login needs TLS")
	c.expect("AUTH PLAIN "+plain("", "alice@example.org", "secret"), "-ERR [AUTH] plaintext login needs TLS")
	c.expect("STLS", "+OK")
	tc := tls.Client(conn, e.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, tc)
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret", "+OK")
	c.expect("QUIT", "+OK")
}

// TestFailedLoginsSlowed: each failure waits LoginDelay longer than the
// last, and the connection is closed after pop3.MaxLoginFailures. The
// replies must take at least that long; the log says how long was meant
// (checking the password takes a varying time, so an upper bound would be
// flaky).
func TestFailedLoginsSlowed(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	logs := &recorder{}
	e := newEnv(t, func(o *pop3.Options) {
		o.LoginDelay = delay
		o.Logger = slog.New(logs)
	})
	c := e.dial(t)
	for i := 1; i <= pop3.MaxLoginFailures; i++ {
		c.expect("USER alice@example.org", "+OK")
		want := "-ERR [AUTH] invalid"
		if i == pop3.MaxLoginFailures {
			want = "-ERR [AUTH] too many failed logins"
		}
		start := time.Now()
		c.expect("PASS wrong", want)
		if took := time.Since(start); took < time.Duration(i)*delay {
			t.Errorf("failure %d answered after %v, want at least %v", i, took, time.Duration(i)*delay)
		}
	}
	c.expectEOF()
	var delays []string
	for _, r := range logs.records() {
		if r.Message == "pop3: login failed" {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "delay" {
					delays = append(delays, a.Value.String())
				}
				if a.Key == "password" || strings.Contains(a.Value.String(), "wrong") {
					t.Errorf("log line %q carries the password", r.Message)
				}
				return true
			})
		}
	}
	if got := strings.Join(delays, " "); got != "100ms 200ms 300ms 400ms 500ms" {
		t.Errorf("logged delays %q, want growing by 100ms", got)
	}
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.recs...)
}

// TestIdleTimeout: an idle session is told and closed, and deletes nothing.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *pop3.Options) { o.IdleTimeout = 300 * time.Millisecond })
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	c := e.login(t)
	c.expect("DELE 1", "+OK")
	start := time.Now()
	if r := c.line(); !strings.HasPrefix(r, "-ERR autologout") {
		t.Fatalf("after idling: %q", r)
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("closed after %v, want the idle timeout", took)
	}
	c.expectEOF()
	if got := e.inboxUIDs(t); len(got) != 1 {
		t.Errorf("INBOX after idle timeout = %v, want the message kept", got)
	}
}

// TestShutdown: sessions waiting for a command are told and closed, and a
// session in TRANSACTION deletes nothing; Serve returns ErrServerClosed.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "Subject: 1\r\n\r\n1\r\n")
	c := e.login(t)
	c.expect("DELE 1", "+OK")
	idle := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, cl := range []*client{c, idle} {
		if r := cl.line(); !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
			t.Errorf("on shutdown: %q", r)
		}
		cl.expectEOF()
	}
	if got := e.inboxUIDs(t); len(got) != 1 {
		t.Errorf("INBOX after shutdown = %v, want the message kept", got)
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}
