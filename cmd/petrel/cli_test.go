package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"petrel/store"
)

// The user commands work the same whether the server runs (through the
// control socket) or not (on the store file).
func TestUserCommands(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprintf("running=%v", running), func(t *testing.T) {
			in := newInstance(t)
			if running {
				in.start()
			}
			out, errOut, code := in.petrel("s3cret\n", "user", "add", "--force", "bob@hamburger.edu")
			if code != 0 || !strings.Contains(out, "added bob@hamburger.edu") {
				t.Fatalf("user add: %d %q %q", code, out, errOut)
			}
			_, errOut, code = in.petrel("x\n", "user", "add", "--force", "bob@hamburger.edu")
			if code != 1 || !strings.Contains(errOut, "already exists") {
				t.Errorf("duplicate add: %d %q", code, errOut)
			}
			_, errOut, code = in.petrel("x\n", "user", "add", "--force", "eve@elsewhere.org")
			if code != 1 || !strings.Contains(errOut, "not in a local domain") {
				t.Errorf("foreign domain add: %d %q", code, errOut)
			}
			_, errOut, code = in.petrel("", "user", "add", "carol@hamburger.edu")
			if code != 1 || !strings.Contains(errOut, "no password") {
				t.Errorf("add without password: %d %q", code, errOut)
			}
			if running {
				// The running server knows the new user at once.
				if err := sendMail(in.smtpAddr, "alice@crepes.fr", "bob@hamburger.edu", "Subject: hi\r\n\r\nhello\r\n"); err != nil {
					t.Fatalf("mail to the new user: %v", err)
				}
			}
			out, _, code = in.petrel("", "user", "list")
			if code != 0 || !strings.Contains(out, "bob@hamburger.edu") {
				t.Errorf("user list: %d %q", code, out)
			}
			if running && !strings.Contains(out, "bob@hamburger.edu  1 ") {
				t.Errorf("user list does not count the delivered message:\n%s", out)
			}
			if _, errOut, code = in.petrel("n3w\n", "user", "passwd", "--force", "bob@hamburger.edu"); code != 0 {
				t.Errorf("passwd: %d %s", code, errOut)
			}
			if _, errOut, code = in.petrel("", "user", "del", "bob@hamburger.edu", "--yes"); code != 0 {
				t.Errorf("del: %d %s", code, errOut)
			}
			out, _, _ = in.petrel("", "user", "list")
			if strings.Contains(out, "bob@") {
				t.Errorf("deleted user still listed:\n%s", out)
			}
			if running {
				in.signal(syscall.SIGTERM)
				if !strings.Contains(in.stderr.String(), "msg=stopped") {
					t.Errorf("no clean stop in the log:\n%s", in.stderr)
				}
			}
			// The password set through either path is what the store checks.
			in.petrel("pw\n", "user", "add", "--force", "dave@hamburger.edu")
			st, err := store.Open(filepath.Join(in.dir, "data", "mail.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Authenticate("dave@hamburger.edu", "pw"); err != nil {
				t.Errorf("password from stdin not stored: %v", err)
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	in := newInstance(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"user", "frob"}, 2, "want one of: add, del, list, passwd"},
		{[]string{"user", "add"}, 2, "usage: petrel user add ADDRESS"},
		{[]string{"user", "del", "not-an-address"}, 1, "is not an email address"},
		{[]string{"serve", "extra"}, 2, "serve takes no arguments"},
		{[]string{"config", "check", "--bogus"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		_, errOut, code := in.petrel("", c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("petrel %v: exit %d, %q; want exit %d with %q", c.args, code, errOut, c.code, c.want)
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("petrel %v: more than a line or two of error:\n%s", c.args, errOut)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("hostname = \"mx.example.com\"\n[smtp]\nmax_recipients = -1\n"), 0o644)
	bin := exec.Command(petrelBin, "serve", "--config", bad)
	var eb strings.Builder
	bin.Stderr = &eb
	err := bin.Run()
	code, errOut := bin.ProcessState.ExitCode(), eb.String()
	if err == nil {
		t.Errorf("serve with a bad config exited 0")
	}
	if code != 1 || !strings.Contains(errOut, "smtp.max_recipients = -1: must be more than 0") {
		t.Errorf("bad config: %d %q", code, errOut)
	}
}

func TestPortInUse(t *testing.T) {
	in := newInstance(t)
	in.start()
	other := newInstance(t)
	cfg, _ := os.ReadFile(other.config)
	os.WriteFile(other.config, []byte(strings.Replace(string(cfg), other.smtpAddr, in.smtpAddr, 1)), 0o644)
	_, errOut, code := other.petrel("", "serve")
	if code != 1 || !strings.Contains(errOut, "address already in use") || !strings.Contains(errOut, "listen.smtp") {
		t.Errorf("port in use: %d %q", code, errOut)
	}
}

// A backup taken while clients are sending holds every message accepted
// before it started, the DKIM key and the rest of data_dir; restored into
// an empty data_dir, a server starts on it and serves them.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	in := newInstance(t)
	in.petrel("pw\n", "user", "add", "--force", "bob@hamburger.edu")
	if _, errOut, code := in.petrel("", "dkim", "keygen", "hamburger.edu"); code != 0 {
		t.Fatalf("dkim keygen: %s", errOut)
	}
	in.start()
	var accepted atomic.Int64
	var lastErr atomic.Value // a refusal's text, for the failure below
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := sendMail(in.smtpAddr, "a@crepes.fr", "bob@hamburger.edu", fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", w, i)); err == nil {
					accepted.Add(1)
				} else {
					lastErr.Store(err.Error())
				}
			}
		}()
	}
	for deadline := time.Now().Add(time.Minute); accepted.Load() < 20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			close(stop)
			t.Fatalf("%d messages accepted in a minute, want 20 before the backup (last error: %v):\n%s", accepted.Load(), lastErr.Load(), in.stderr)
		}
	}
	before := accepted.Load()
	snap := filepath.Join(t.TempDir(), "petrel-backup.tar.gz")
	out, errOut, code := in.petrel("", "backup", snap)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "wrote") {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	in.signal(syscall.SIGTERM)

	// Restore refuses a data_dir that has a store, and a live server.
	if _, errOut, code := in.petrel("", "restore", snap); code == 0 || !strings.Contains(errOut, "already holds a mail store") {
		t.Errorf("restore over a store: %d %q", code, errOut)
	}
	other := newInstance(t)
	if out, errOut, code := other.petrel("", "restore", snap); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	keys, _ := filepath.Glob(filepath.Join(other.dir, "data", "dkim", "*"))
	if len(keys) == 0 {
		t.Errorf("no DKIM key restored")
	}
	if _, err := os.Stat(filepath.Join(other.dir, "data", "queue.db")); err != nil {
		t.Errorf("queue not restored: %v", err)
	}
	st, err := store.Open(filepath.Join(other.dir, "data", "mail.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.AccountByAddress("bob@hamburger.edu")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := st.MailboxByName(a.ID, "INBOX")
	st.Close()
	if int64(mb.Messages) < before || int64(mb.Messages) > accepted.Load() {
		t.Errorf("restored INBOX has %d messages; %d were accepted before the backup began, %d in all", mb.Messages, before, accepted.Load())
	}
	other.start()
	if err := sendMail(other.smtpAddr, "a@crepes.fr", "bob@hamburger.edu", "Subject: after\r\n\r\nrestored\r\n"); err != nil {
		t.Errorf("the restored server does not take mail: %v", err)
	}
	if _, errOut, code := other.petrel("", "restore", snap); code == 0 || !strings.Contains(errOut, "running") {
		t.Errorf("restore beside a running server: %d %q", code, errOut)
	}
}
