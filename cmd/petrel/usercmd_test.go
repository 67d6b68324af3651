package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// `user add` and `user passwd` refuse a short or very common password,
// saying the rule, unless --force; `user del` asks on a terminal and needs
// --yes elsewhere (issue 13, point 11).
func TestUserPasswordRuleAndDeleteConfirmation(t *testing.T) {
	in := newInstance(t)
	listed := func(addr string) bool {
		out, _, _ := in.petrelStrict("", "user", "list")
		return strings.Contains(out, addr+" ")
	}
	for _, pw := range []string{"abc", "s3cret7", "password1", "12345678", "carol@hamburger.edu"} {
		_, errOut, code := in.petrelStrict(pw+"\n", "user", "add", "carol@hamburger.edu")
		if code != 1 || !strings.Contains(errOut, "at least 8 characters") || !strings.Contains(errOut, "--force") {
			t.Errorf("user add with password %q: exit %d, %q; want exit 1 with the rule and --force", pw, code, errOut)
		}
	}
	if listed("carol@hamburger.edu") {
		t.Fatal("a refused password made the account")
	}
	if out, errOut, code := in.petrelStrict("abc\n", "user", "add", "carol@hamburger.edu", "--force"); code != 0 || !strings.Contains(out, "added") {
		t.Errorf("user add --force: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := in.petrelStrict("a good password\n", "user", "add", "dave@hamburger.edu"); code != 0 {
		t.Errorf("user add with a good password: exit %d, %q", code, errOut)
	}
	if _, errOut, code := in.petrelStrict("qwertyuiop\n", "user", "passwd", "dave@hamburger.edu"); code != 1 || !strings.Contains(errOut, "most common") {
		t.Errorf("user passwd with a common password: exit %d, %q", code, errOut)
	}

	// No terminal: --yes or nothing.
	_, errOut, code := in.petrel("y\n", "user", "del", "dave@hamburger.edu")
	if code != 2 || !strings.Contains(errOut, "--yes") || !listed("dave@hamburger.edu") {
		t.Errorf("user del without --yes and without a terminal: exit %d, %q, account kept: %v", code, errOut, listed("dave@hamburger.edu"))
	}
	// A terminal: asked, and "n" (or nothing) keeps the account, "y" deletes it.
	for _, c := range []struct {
		answer string
		kept   bool
	}{{"n\n", true}, {"\n", true}, {"y\n", false}} {
		out, prompt, code := onTerminal(t, c.answer, petrelBin, "user", "del", "dave@hamburger.edu", "--config", in.config)
		if !strings.Contains(prompt, "Delete dave@hamburger.edu and all its mail") {
			t.Errorf("user del on a terminal did not ask: %q", prompt)
		}
		if listed("dave@hamburger.edu") != c.kept || (code == 0) == c.kept {
			t.Errorf("user del, answer %q: exit %d, %q, %q; want kept=%v", c.answer, code, out, prompt, c.kept)
		}
	}
	if _, errOut, code := in.petrel("", "user", "del", "carol@hamburger.edu", "--yes"); code != 0 || listed("carol@hamburger.edu") {
		t.Errorf("user del --yes: exit %d, %q", code, errOut)
	}
}

// onTerminal runs a command whose standard input is a terminal (a pty)
// on which answer is typed; it returns stdout, what the terminal showed,
// and the exit code.
func onTerminal(t *testing.T, answer string, name string, args ...string) (string, string, int) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	shown := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 1024)
		typed := false
		for {
			n, err := ptmx.Read(buf)
			b.Write(buf[:n])
			if !typed && strings.Contains(b.String(), "[y/N]") {
				ptmx.Write([]byte(answer))
				typed = true
			}
			if err != nil {
				shown <- b.String()
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the command did not end")
	}
	ptmx.Close() // ends the reader if the pty is still open
	return out.String(), <-shown, cmd.ProcessState.ExitCode()
}
