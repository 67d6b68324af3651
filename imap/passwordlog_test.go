package imap_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	pimap "petrel/imap"
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

// TestPasswordsNotLogged: LOGIN (atom, quoted string, literal) and
// AUTHENTICATE PLAIN, right and wrong, leave no password and no base64
// form of one in the log, at debug level, though it names the user.
func TestPasswordsNotLogged(t *testing.T) {
	logs := &lockedLog{}
	e := newEnv(t, func(o *pimap.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const user, right = "carol@example.org", "Right-Pw-7f3e-carol"
	wrongs := []string{"Wrong-Pw-91ab-one", "Wrong-Pw-91ab-two", "Wrong-Pw-91ab-three", "Wrong-Pw-91ab-four"}
	if _, err := e.st.CreateAccount(context.Background(), user, right); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString

	r := e.raw(t)
	r.cmd(t, "LOGIN "+user+" "+wrongs[0], "NO")
	r.cmd(t, fmt.Sprintf("LOGIN %q %q", user, wrongs[1]), "NO")
	r.send(t, fmt.Sprintf("l1 LOGIN %s {%d+}", user, len(wrongs[2])))
	r.send(t, wrongs[2])
	r.until(t, "l1", "NO")
	r.cmd(t, "AUTHENTICATE PLAIN "+b64([]byte("\x00"+user+"\x00"+wrongs[3])), "NO")
	r.cmd(t, "LOGIN "+user+" "+right, "OK")
	r.cmd(t, "LOGOUT", "OK")

	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", user, right)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()

	out := logs.String()
	if !strings.Contains(out, "login failed") || !strings.Contains(out, user) {
		t.Fatalf("the log lacks the failed logins (is it captured?):\n%s", out)
	}
	for _, pw := range append(wrongs, right) {
		for _, form := range []string{pw, b64([]byte(pw)), b64([]byte("\x00" + user + "\x00" + pw))} {
			if strings.Contains(out, form) {
				t.Errorf("the log holds %q (password %q):\n%s", form, pw, out)
			}
		}
	}
}
