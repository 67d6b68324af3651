package pop3_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
)

// TestCompareDovecot times poplib retrieving every message of the same
// maildrop (POP3_COMPARE_DOVECOT messages of 4 KiB, e.g. 10000) from
// Petrel and from Dovecot's POP3 on this machine, and logs the ratio. It
// is a measurement for the notes, not a check, and runs only when asked:
//
//	POP3_COMPARE_DOVECOT=10000 go test -run CompareDovecot -v ./pop3/
func TestCompareDovecot(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("POP3_COMPARE_DOVECOT"))
	if n <= 0 {
		t.Skip("set POP3_COMPARE_DOVECOT=<messages> to measure against Dovecot")
	}
	dovecot := testenv.RequireTool(t, "dovecot")
	py := "/usr/bin/python3"

	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = fourKiB(i)
	}

	// Petrel.
	e := newEnv(t)
	start := time.Now()
	e.deliverAll(t, msgs)
	t.Logf("petrel: delivered %d messages in %v", n, time.Since(start))

	// Dovecot, from a Maildir of the same messages.
	dir, err := os.MkdirTemp("", "pop3-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	for _, d := range []string{"Maildir/cur", "Maildir/new", "Maildir/tmp", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Unix() - int64(n)
	for i, m := range msgs {
		name := fmt.Sprintf("%d.M%dP1.petrel-test,S=%d:2,", base+int64(i), i, len(m))
		if err := os.WriteFile(filepath.Join(dir, "Maildir/cur", name), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "passwd"), []byte("alice@example.org:{PLAIN}secret\n"), 0o644)
	// Dovecot refuses to serve mail as root: the maildrop belongs to
	// nobody, and so does the mail process.
	mailUID, mailGID := os.Getuid(), os.Getgid()
	if mailUID == 0 {
		mailUID, mailGID = 65534, 65534
		filepath.WalkDir(filepath.Join(dir, "Maildir"), func(p string, _ os.DirEntry, err error) error {
			if err == nil {
				err = os.Chown(p, mailUID, mailGID)
			}
			return err
		})
		os.MkdirAll(filepath.Join(dir, "home"), 0o755)
		os.Chown(filepath.Join(dir, "home"), mailUID, mailGID)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`protocols = pop3
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 0
mail_location = maildir:%[1]s/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[3]d gid=%[4]d home=%[1]s/home
}
service pop3-login {
  inet_listener pop3 {
    port = %[2]d
  }
}
`, dir, port, mailUID, mailGID)
	confPath := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	cmd := exec.Command(dovecot, "-F", "-c", confPath)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	dovecotAddr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", dovecotAddr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot did not listen within 30 s: %s\n%s", out.String(), log)
		}
	}

	type result struct {
		Messages int
		Octets   int64
		Seconds  float64
	}
	run := func(name, addr string) result {
		host, port, _ := strings.Cut(addr, ":")
		b, err := exec.Command(py, "testdata/poplib_retr_all.py", host, port, "alice@example.org", "secret").Output()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("%s: %v\n%s", name, err, log)
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d messages, %d octets in %.2fs (%.0f msgs/s)", name, r.Messages, r.Octets, r.Seconds, float64(r.Messages)/r.Seconds)
		if r.Messages != n {
			t.Errorf("%s: %d messages, want %d", name, r.Messages, n)
		}
		return r
	}
	// The first run builds Dovecot's index (and warms Petrel's pages); the
	// second is the one compared.
	run("dovecot (cold)", dovecotAddr)
	run("petrel (cold)", e.addr)
	d := run("dovecot", dovecotAddr)
	p := run("petrel", e.addr)
	t.Logf("petrel/dovecot time ratio for RETR of %d messages: %.2f", n, p.Seconds/d.Seconds)
}
