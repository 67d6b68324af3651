package mta

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// lockedLog is a log sink safe for concurrent use.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPasswordsNotLogged: whatever happens at AUTH (PLAIN or LOGIN, right
// or wrong password, a transaction after it), the log, at debug level,
// holds neither a password nor its base64 forms, though it names the user.
func TestPasswordsNotLogged(t *testing.T) {
	logs := &lockedLog{}
	ts := newTestServer(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const user, right = "carol@hamburger.edu", "Right-Pw-7f3e-carol"
	wrongs := []string{"Wrong-Pw-91ab-one", "Wrong-Pw-91ab-two", "Wrong-Pw-91ab-three"}
	if _, err := ts.store.CreateAccount(context.Background(), user, right); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString

	// AUTH PLAIN, wrong then right, then a message.
	c, err := smtp.Dial(ts.subAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, wrongs[0])); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", user, right)); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := c.SendMail(user, []string{"bob@hamburger.edu"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	// AUTH LOGIN by hand, with the password also mistaken for the user name.
	d := dial(t, ts.subAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	d.expect("AUTH LOGIN", 334)
	d.expect(b64([]byte(user)), 334)
	d.expect(b64([]byte(wrongs[1])), 535)
	d.expect("AUTH LOGIN "+b64([]byte(wrongs[2])), 334)
	d.expect(b64([]byte(wrongs[2])), 535)
	d.expect("AUTH LOGIN", 334)
	d.expect(b64([]byte(user)), 334)
	d.expect(b64([]byte(right)), 235)
	d.expect("QUIT", 221)
	ts.mta.Shutdown(context.Background())

	out := logs.String()
	if !strings.Contains(out, "auth failed") || !strings.Contains(out, user) {
		t.Fatalf("the log lacks the failed logins (is it captured?):\n%s", out)
	}
	for _, pw := range append(wrongs[:2], right) {
		for _, form := range []string{pw, b64([]byte(pw)), b64([]byte("\x00" + user + "\x00" + pw))} {
			if strings.Contains(out, form) {
				t.Errorf("the log holds %q (password %q):\n%s", form, pw, out)
			}
		}
	}
	// wrongs[2] was sent as a user name: logging a user name is fine, but
	// it must not appear as a password.
	if strings.Contains(out, "password") {
		t.Errorf("the log has a password field:\n%s", out)
	}
}
