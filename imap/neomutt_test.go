package imap_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
	"petrel/store"
	"petrel/store/storetest"
)

// TestNeomutt drives Debian's neomutt in tmux, as a person would: it lists
// INBOX, opens a message and flags it; the server's store shows the
// message \Seen and \Flagged.
func TestNeomutt(t *testing.T) {
	neomutt := testenv.RequireTool(t, "neomutt")
	tmux := testenv.RequireTool(t, "tmux")
	e := newEnv(t)
	for _, s := range []string{"first note", "second note", "third note"} {
		e.deliver(t, simpleMsg(s, "body of the "+s))
	}

	dir := t.TempDir()
	port := e.addr[strings.LastIndexByte(e.addr, ':')+1:]
	rc := fmt.Sprintf(`set folder = "imap://127.0.0.1:%s/"
set spoolfile = "+INBOX"
set imap_user = "user@example.org"
set imap_pass = "secret"
set ssl_starttls = no
set ssl_force_tls = no
set header_cache = ""
set message_cachedir = ""
set record = ""
set mail_check = 1
set timeout = 1
set sort = date
set mark_old = no
set quit = yes
set wait_key = no
`, port)
	rcFile := filepath.Join(dir, "neomuttrc")
	must(t, os.WriteFile(rcFile, []byte(rc), 0o600))

	sock := "petrel-neomutt-" + fmt.Sprint(os.Getpid())
	tm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmux, append([]string{"-L", sock}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "TERM=xterm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tm("new-session", "-d", "-s", "mutt", "-x", "160", "-y", "40", neomutt+" -n -F "+rcFile)
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	screen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := tm("capture-pane", "-p", "-t", "mutt")
			if strings.Contains(s, want) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("neomutt's screen never showed %q:\n%s", want, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The index lists all three.
	s := screen("third note")
	for _, subj := range []string{"first note", "second note"} {
		if !strings.Contains(s, subj) {
			t.Fatalf("index without %q:\n%s", subj, s)
		}
	}
	// Find the second, open it, back to the index, flag it, sync.
	tm("send-keys", "-t", "mutt", "/", "second note", "Enter")
	tm("send-keys", "-t", "mutt", "Enter")
	screen("body of the second note")
	tm("send-keys", "-t", "mutt", "q")
	screen("third note")
	tm("send-keys", "-t", "mutt", "F")
	tm("send-keys", "-t", "mutt", "$")

	inbox := storetest.Inbox(t, e.st, e.acct)
	flagsOf := func() (seen, flagged bool) {
		msgs, err := e.st.List(inbox.ID)
		must(t, err)
		for _, m := range msgs {
			p, err := e.st.Structure(inbox.ID, m.UID)
			must(t, err)
			if p.Envelope.Subject == "second note" {
				return m.Has(store.FlagSeen), m.Has(store.FlagFlagged)
			}
		}
		t.Fatal("second note is gone")
		return false, false
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		seen, flagged := flagsOf()
		if seen && flagged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second note: seen %v, flagged %v; want both\n%s", seen, flagged, tm("capture-pane", "-p", "-t", "mutt"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	tm("send-keys", "-t", "mutt", "q")
}
