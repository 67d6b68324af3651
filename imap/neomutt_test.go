package imap_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/internal/testenv"
)

// tmuxPane runs one program in a detached tmux session on its own socket
// and reads its screen, the way a person would see it.
type tmuxPane struct {
	tmux, sock string
}

func (p *tmuxPane) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(p.tmux, append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (p *tmuxPane) screen(t *testing.T) string {
	t.Helper()
	return p.run(t, "capture-pane", "-p", "-t", "t")
}

// keys types into the pane; each argument is a tmux key name or literal.
func (p *tmuxPane) keys(t *testing.T, keys ...string) {
	t.Helper()
	p.run(t, append([]string{"send-keys", "-t", "t"}, keys...)...)
}

// waitScreen polls the screen until every string in want is on it.
func (p *tmuxPane) waitScreen(t *testing.T, what string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.screen(t)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q not on the screen after 30 s:\n%s", what, want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNeomutt drives Debian's neomutt in tmux as a person would: it lists
// INBOX, opens the second message (its body shows), flags it and syncs;
// the flags are then checked over IMAP, and the other messages are
// untouched.
func TestNeomutt(t *testing.T) {
	neomutt := testenv.RequireTool(t, "neomutt")
	tmux := testenv.RequireTool(t, "tmux")
	e := newEnv(t)
	for _, s := range []string{"first", "second", "third"} {
		e.deliver(t, simpleMsg("neomutt "+s, "the body of the "+s+" message"))
	}

	dir := t.TempDir()
	rc := filepath.Join(dir, "muttrc")
	conf := fmt.Sprintf(`set folder="imap://user%%40example.org@%s/"
set spoolfile="+INBOX"
set imap_user="user@example.org"
set imap_pass="secret"
set ssl_starttls=no
set ssl_force_tls=no
set sort=unsorted
set header_cache=""
set message_cachedir=""
set record=""
set postponed=""
set mark_old=no
set move=no
set quit=yes
set wait_key=no
set help=no
set resolve=no
set timeout=1
set mail_check=1
`, e.addr)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	tconf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(tconf, []byte("set -g default-terminal screen\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &tmuxPane{tmux: tmux, sock: filepath.Join(dir, "tmux.sock")}
	start := exec.Command(tmux, "-S", p.sock, "-f", tconf, "new-session", "-d", "-s", "t", "-x", "160", "-y", "40",
		fmt.Sprintf("HOME=%s LANG=C.UTF-8 %s -n -F %s", dir, neomutt, rc))
	start.Env = append(os.Environ(), "TERM=screen")
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("start tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(tmux, "-S", p.sock, "kill-server").Run() })

	p.waitScreen(t, "INBOX listed", "neomutt first", "neomutt second", "neomutt third")
	// Jump to message 2 (mailbox order: UID 2) and open it.
	p.keys(t, "2")
	p.waitScreen(t, "jump prompt", "Jump to message")
	p.keys(t, "Enter")
	p.keys(t, "Enter")
	p.waitScreen(t, "message 2 open", "the body of the second message")
	p.keys(t, "F") // flag-message, in the pager
	p.keys(t, "q") // back to the index
	p.waitScreen(t, "index again", "neomutt first", "neomutt third")
	p.keys(t, "$") // sync-mailbox: neomutt writes the flag now

	c := e.client(t, nil)
	mustSelect(t, c, "INBOX")
	var flags map[imap.UID][]imap.Flag
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := c.Fetch(imap.UIDSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		flags = map[imap.UID][]imap.Flag{}
		for _, m := range msgs {
			flags[m.UID] = slices.DeleteFunc(m.Flags, func(f imap.Flag) bool { return f == `\Recent` })
		}
		// neomutt peeks at bodies and writes \Seen and \Flagged as two
		// STOREs when it syncs: wait for both.
		done := slices.Contains(flags[2], imap.FlagFlagged) && slices.Contains(flags[2], imap.FlagSeen)
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Contains(flags[2], imap.FlagFlagged) || !slices.Contains(flags[2], imap.FlagSeen) {
		t.Errorf("message 2 after neomutt opened and flagged it: %v, want \\Seen and \\Flagged\n%s", flags[2], p.screen(t))
	}
	for _, u := range []imap.UID{1, 3} {
		if len(flags[u]) != 0 {
			t.Errorf("message %d, never opened: flags %v, want none", u, flags[u])
		}
	}
	p.keys(t, "q")
}
