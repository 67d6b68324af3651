package imap_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	pimap "petrel/imap"
	"petrel/internal/testenv"
)

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
		addr := e.serveOn(t, testenv.RemoteListener(l))
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
		addr := e.serveOn(t, tls.NewListener(testenv.RemoteListener(l), e.serverTLS))
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
	// The timer is real. Each pause is shorter than the autologout by 1 s,
	// the margin a loaded machine has to send the NOOP after it; two are
	// longer, however late each NOOP is (the clock cannot run short).
	const autologout = 2500 * time.Millisecond
	const pause = 1500 * time.Millisecond
	e := newEnv(t, func(o *pimap.Options) { o.AutoLogout = autologout })
	// Fill the password cache: on a busy machine the password hash alone
	// could outlast the 300ms of the LOGIN below.
	if _, err := e.st.Authenticate(e.acct.Address, "secret"); err != nil {
		t.Fatal(err)
	}
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "SELECT INBOX", "OK")
	time.Sleep(pause)
	r.cmd(t, "NOOP", "OK") // activity resets the clock
	time.Sleep(pause)
	// The server reads the NOOP after start: its silence is timed from then
	// or later, however slow the machine, so the BYE comes autologout after
	// start or later.
	start := time.Now()
	r.cmd(t, "NOOP", "OK") // two pauses after SELECT: still here, so the first NOOP reset the clock
	if l := r.line(t); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("silent client got %q, want BYE", l)
	}
	if d := time.Since(start); d < autologout-100*time.Millisecond {
		t.Errorf("BYE after %v of silence, want about %v", d, autologout)
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
