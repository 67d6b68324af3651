package imap_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	pimap "petrel/imap"
)

// farListener makes every accepted connection look as if it came from
// 192.0.2.7 (TEST-NET-1), so the non-loopback policy can be tested on
// 127.0.0.1.
type farListener struct{ net.Listener }

func (l farListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return farConn{c}, nil
}

type farConn struct{ net.Conn }

func (farConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000} }

func (e *env) serveOn(t *testing.T, l net.Listener) string {
	t.Helper()
	go e.srv.Serve(l)
	return l.Addr().String()
}

func TestPlaintextAuthPolicy(t *testing.T) {
	e := newEnv(t)

	t.Run("remote plain: LOGINDISABLED, then STARTTLS", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := e.serveOn(t, farListener{l})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := newRaw(t, c)
		caps := r.cmd(t, "CAPABILITY", "OK")
		if !strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "AUTH=PLAIN") {
			t.Errorf("remote plaintext CAPABILITY: %s", caps)
		}
		if out := r.cmd(t, "LOGIN user@example.org secret", "NO"); !strings.Contains(out, "PRIVACYREQUIRED") {
			t.Errorf("LOGIN before TLS: %s", out)
		}
		r.cmd(t, "AUTHENTICATE PLAIN AHVzZXJAZXhhbXBsZS5vcmcAc2VjcmV0", "NO")
		r.startTLS(t, e.clientTLS)
		caps = r.cmd(t, "CAPABILITY", "OK")
		if strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "AUTH=PLAIN") {
			t.Errorf("CAPABILITY after STARTTLS: %s", caps)
		}
		r.cmd(t, "AUTHENTICATE PLAIN AHVzZXJAZXhhbXBsZS5vcmcAc2VjcmV0", "OK")
	})

	t.Run("loopback plain: LOGIN allowed", func(t *testing.T) {
		r := e.raw(t)
		caps := r.cmd(t, "CAPABILITY", "OK")
		if strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "AUTH=PLAIN") || !strings.Contains(caps, "STARTTLS") {
			t.Errorf("loopback CAPABILITY: %s", caps)
		}
		r.cmd(t, "LOGIN user@example.org wrong", "NO")
		out := r.cmd(t, "LOGIN user@example.org secret", "OK")
		for _, c := range []string{"IMAP4rev2", "IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "LIST-STATUS", "ESEARCH", "APPENDLIMIT=52428800", "LITERAL+", "BINARY"} {
			if !strings.Contains(out, c) {
				t.Errorf("capabilities after login lack %s: %s", c, out)
			}
		}
	})

	t.Run("remote implicit TLS: LOGIN allowed", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := e.serveOn(t, tls.NewListener(farListener{l}, e.serverTLS))
		c, err := tls.Dial("tcp", addr, e.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		r := newRaw(t, c)
		if caps := r.cmd(t, "CAPABILITY", "OK"); strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "STARTTLS") {
			t.Errorf("implicit TLS CAPABILITY: %s", caps)
		}
		r.cmd(t, "LOGIN user@example.org secret", "OK")
	})
}

func TestAutoLogout(t *testing.T) {
	e := newEnv(t, func(o *pimap.Options) { o.AutoLogout = 300 * time.Millisecond })
	// Fill the password cache: on a busy machine the password hash alone
	// could outlast the 300ms of the LOGIN below.
	if _, err := e.st.Authenticate(e.acct.Address, "secret"); err != nil {
		t.Fatal(err)
	}
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "SELECT INBOX", "OK")
	time.Sleep(150 * time.Millisecond)
	r.cmd(t, "NOOP", "OK") // activity resets the clock
	time.Sleep(200 * time.Millisecond)
	r.cmd(t, "NOOP", "OK")
	start := time.Now()
	if l := r.line(t); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("silent client got %q, want BYE", l)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("BYE after %v of silence, want about 300ms", d)
	}
	r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.br.ReadByte(); err == nil {
		t.Errorf("connection still open after autologout BYE")
	}

	// Silent from LOGIN on (the autologout, on the timer's goroutine, logs
	// with the logger LOGIN set: go test -race checks they do not race).
	r = e.raw(t)
	r.login(t)
	if l := r.line(t); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("client silent since LOGIN got %q, want BYE", l)
	}
}
