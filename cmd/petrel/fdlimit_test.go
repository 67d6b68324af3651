package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
)

// startLimited runs `petrel serve` under a limit of n open files (soft and
// hard, so the server cannot raise it) and waits until SMTP answers.
func (in *instance) startLimited(n int) {
	in.t.Helper()
	sh := testenv.RequireTool(in.t, "sh")
	in.cmd = exec.Command(sh, "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" serve --config "$1"`, n), petrelBin, in.config)
	in.stderr = &syncBuffer{}
	in.cmd.Stderr, in.cmd.Stdout = in.stderr, in.stderr
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
		if c, err := net.Dial("tcp", in.smtpAddr); err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(in.dir, "data", controlSocketName)); err == nil {
				return // the last thing start makes
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.t.Fatalf("petrel did not start:\n%s", in.stderr)
}

// greets dials addr and says whether the server's first line starts with
// want within d.
func greets(addr, want string, d time.Duration) (string, bool) {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err.Error(), false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err.Error(), false
	}
	return l, strings.HasPrefix(l, want)
}

// readyz asks /readyz on the open connection c.
func readyz(t *testing.T, c net.Conn, r *bufio.Reader) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// When the server runs out of file descriptors (EMFILE), every listener
// retries accepting with back-off and serves again once descriptors are
// freed; while one cannot accept, /readyz says so. The server runs as a
// child process under a low RLIMIT_NOFILE; idle IMAP connections use up
// its descriptors, and one connection waits on each other listener.
// Before, IMAP and POP3 logged "listener stopped" and never served again,
// and /readyz went on saying ready.
func TestListenersSurviveDescriptorExhaustion(t *testing.T) {
	pop3Addr := freePort(t)
	in := newInstanceWith(t, instanceOpts{imapAddr: freePort(t), extra: fmt.Sprintf("pop3 = %q\n", pop3Addr)})
	const limit = 64
	in.startLimited(limit)
	if !strings.Contains(in.stderr.String(), fmt.Sprintf("open files limit\" limit=%d", limit)) &&
		!strings.Contains(in.stderr.String(), fmt.Sprintf("msg=\"open files limit\" limit=%d", limit)) {
		t.Errorf("the log does not give the open files limit (%d):\n%s", limit, in.stderr)
	}
	hc, err := net.Dial("tcp", in.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hr := bufio.NewReader(hc)
	if code := readyz(t, hc, hr); code != http.StatusOK {
		t.Fatalf("/readyz before: %d", code)
	}

	// Use every descriptor up with idle IMAP connections: until one gets
	// no greeting and the server has logged a failed accept (a greeting
	// merely slow on a loaded machine is no sign: the next one is tried).
	metEMFILE := func() bool { return strings.Contains(in.stderr.String(), "accept failed, retrying") }
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		if i > 2*limit {
			t.Fatalf("%d IMAP connections under a limit of %d open files, and no failed accept logged:\n%s", i, limit, in.stderr)
		}
		c, err := net.Dial("tcp", in.imapAddr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil && metEMFILE() {
			t.Logf("descriptors exhausted after %d IMAP connections", i)
			break
		}
	}
	// A connection waiting on each other listener meets EMFILE too.
	for _, addr := range []string{pop3Addr, in.smtpAddr, in.subAddr, in.httpAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// Wait until some listener has met the failure (it retries at most a
	// second apart), then /readyz must say not ready.
	deadline := time.Now().Add(10 * time.Second)
	for !metEMFILE() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if code := readyz(t, hc, hr); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while listeners cannot accept: %d, want 503", code)
	}

	for _, c := range idle {
		c.Close()
	}
	idle = nil
	for _, l := range []struct{ name, addr, greeting string }{
		{"imap", in.imapAddr, "* OK"}, {"pop3", pop3Addr, "+OK"}, {"smtp", in.smtpAddr, "220 "}, {"submission", in.subAddr, "220 "},
	} {
		if got, ok := greets(l.addr, l.greeting, 15*time.Second); !ok {
			t.Errorf("%s after the descriptors were freed: %q, want %q", l.name, got, l.greeting)
		}
	}
	hc2, err := net.Dial("tcp", in.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc2.Close()
	hr2 := bufio.NewReader(hc2)
	deadline = time.Now().Add(10 * time.Second)
	for code := readyz(t, hc2, hr2); code != http.StatusOK; code = readyz(t, hc2, hr2) {
		if time.Now().After(deadline) {
			t.Errorf("/readyz after recovery: %d, want 200", code)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(in.stderr.String(), "listener stopped") {
		t.Errorf("a listener stopped:\n%s", in.stderr)
	}
}
