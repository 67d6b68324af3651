package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/internal/pgtest"
)

// petrelBin is the binary under test, built once by TestMain.
var petrelBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "petrel-bin")
	if err != nil {
		panic(err)
	}
	petrelBin = filepath.Join(dir, "petrel")
	args := []string{"build", "-o", petrelBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build petrel: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Main(m) // m.Run, then the shared PostgreSQL (if a test started it) stopped
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a free loopback address and port for a petrel child
// process to listen on.
//
// The port is free when freePort returns, and the child that is handed it
// binds it later: to leave no other process a chance of taking it in
// between, each call picks its own random address in 127.0.0.0/8 (loopback
// on Linux; outside 127.0.0.x, which tests use as client addresses), where
// nothing but this test listens or connects from.
func freePort(t testing.TB) string {
	t.Helper()
	for range 10 {
		ip := fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(256), 1+rand.IntN(254))
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			continue
		}
		defer l.Close()
		return l.Addr().String()
	}
	t.Fatal("no free port on a random loopback address")
	return ""
}

// instance is a petrel data directory with its config file.
type instance struct {
	t        testing.TB
	dir      string
	config   string
	smtpAddr string
	subAddr  string
	httpAddr string
	imapAddr string
	cmd      *exec.Cmd
	stderr   *syncBuffer
}

func newInstance(t testing.TB) *instance {
	return newInstanceWith(t, instanceOpts{})
}

// instanceOpts place an instance; zero values give mx.hamburger.edu on
// 127.0.0.1 with free ports.
type instanceOpts struct {
	hostname, domain string
	smtpAddr         string // default: a free port on 127.0.0.1
	imapAddr         string // default: off
	extra            string // appended TOML (sections after [listen])
}

func newInstanceWith(t testing.TB, o instanceOpts) *instance {
	t.Helper()
	if o.hostname == "" {
		o.hostname, o.domain = "mx.hamburger.edu", "hamburger.edu"
	}
	if o.smtpAddr == "" {
		o.smtpAddr = freePort(t)
	}
	dir := t.TempDir()
	in := &instance{t: t, dir: dir, smtpAddr: o.smtpAddr, subAddr: freePort(t), httpAddr: freePort(t), imapAddr: o.imapAddr}
	in.config = filepath.Join(dir, "petrel.toml")
	cfg := fmt.Sprintf(`hostname = %q
domains = [%q]
data_dir = %q
[listen]
smtp = %q
submission = %q
http = %q
imap = %q
%s
`, o.hostname, o.domain, filepath.Join(dir, "data"), in.smtpAddr, in.subAddr, in.httpAddr, o.imapAddr, o.extra)
	if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// petrel runs a CLI command and returns stdout, stderr and the exit code.
// Tests' throwaway passwords ("pw") are below the password rule, which
// TestUserPasswordRuleAndDeleteConfirmation checks with petrelStrict:
// here `user add` and `user passwd` take them (--force).
func (in *instance) petrel(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	if len(args) >= 2 && args[0] == "user" && (args[1] == "add" || args[1] == "passwd") {
		args = append(args[:len(args):len(args)], "--force")
	}
	return in.petrelStrict(stdin, args...)
}

// petrelStrict is petrel without the --force for test passwords.
func (in *instance) petrelStrict(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	cmd := exec.Command(petrelBin, append(args, "--config", in.config)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs `petrel serve` and waits until SMTP answers.
func (in *instance) start() {
	in.t.Helper()
	in.cmd = exec.Command(petrelBin, "serve", "--config", in.config)
	in.stderr = &syncBuffer{}
	in.cmd.Stderr = in.stderr
	in.cmd.Stdout = in.stderr
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	cmd := in.cmd
	in.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", in.smtpAddr)
		if err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(in.dir, "data", controlSocketName)); err == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.t.Fatalf("petrel did not start:\n%s", in.stderr)
}

func (in *instance) signal(sig syscall.Signal) {
	in.t.Helper()
	in.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- in.cmd.Wait() }()
	select {
	case err := <-done:
		if sig == syscall.SIGTERM && err != nil {
			in.t.Errorf("petrel exited with %v after SIGTERM:\n%s", err, in.stderr)
		}
	case <-time.After(30 * time.Second):
		in.t.Fatalf("petrel did not exit after %v", sig)
	}
}

func sendMail(addr, from, to, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(body)); err != nil {
		return err
	}
	return c.Quit()
}

var bg = context.Background()
