package imap_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	pimap "petrel/imap"
)

// TestIdleOutlastsAutoLogout: a client in IDLE is not logged out by the
// autologout, however long it idles (clients renew IDLE every 29 minutes
// at most, RFC 2177); the clock starts again when the IDLE ends.
func TestIdleOutlastsAutoLogout(t *testing.T) {
	const autoLogout = 300 * time.Millisecond
	e := newEnv(t, func(o *pimap.Options) { o.AutoLogout = autoLogout })
	// Fill the password cache: LOGIN below is then quick even on a busy
	// machine, where the password hash alone could outlast autoLogout.
	if _, err := e.st.Authenticate(e.acct.Address, "secret"); err != nil {
		t.Fatal(err)
	}
	r := e.raw(t)
	r.login(t)

	silent := func(what string, d time.Duration) {
		t.Helper()
		r.c.SetReadDeadline(time.Now().Add(d))
		l, err := r.br.ReadString('\n')
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s: got %q, %v; want nothing for %v", what, l, err, d)
		}
	}
	for _, selected := range []bool{false, true} {
		if selected {
			r.cmd(t, "SELECT INBOX", "OK")
		}
		r.send(t, "i1 IDLE")
		if l := r.line(t); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE: %q", l)
		}
		silent("IDLE (selected "+map[bool]string{false: "no", true: "yes"}[selected]+")", 4*autoLogout)
		if selected {
			// Still alive: updates arrive.
			e.deliver(t, simpleMsg("during idle", "x"))
			if l := r.line(t); l != "* 1 EXISTS\r\n" {
				t.Fatalf("delivery during a long IDLE: %q", l)
			}
		}
		r.send(t, "DONE")
		r.until(t, "i1", "OK")
	}

	// Out of IDLE the autologout runs again.
	start := time.Now()
	if l := r.line(t); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("silent client after IDLE got %q, want BYE", l)
	}
	if d := time.Since(start); d < autoLogout*2/3 {
		t.Errorf("BYE %v after IDLE ended, want about %v", d, autoLogout)
	}
}
