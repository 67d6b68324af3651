package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// The README's first command on a fresh machine: `petrel serve --dev` in
// an empty folder, with no config, prints a test account that can log in
// over IMAP on port 1430; a second start keeps it, prints none and says how
// to set a new password. SIGINT (Ctrl-C) stops the server cleanly.
//
// --dev binds loopback only (127.0.0.1 and ::1): another program holding
// port 2525 on another local address does not stop it, the network does
// not reach it, and its self-signed certificate names localhost, 127.0.0.1
// and ::1, so clients set up as the banner says verify it (issue 13,
// points 9 and 15).
func TestDevFirstStart(t *testing.T) {
	requireDevPorts(t)
	// Another program on port 2525 of another local address.
	other := "127.0.0.2"
	if ip := nonLoopbackIP(); ip != nil {
		other = ip.String()
	}
	held, err := net.Listen("tcp", net.JoinHostPort(other, "2525"))
	if err != nil {
		t.Fatalf("hold port 2525 on %s: %v", other, err)
	}
	defer held.Close()
	dir := t.TempDir()
	account := regexp.MustCompile(`created test account (\S+@\S+) with password (\S+)`)
	run := func() (string, func() string) { return runDev(t, dir) }

	out, stop := run()
	m := account.FindStringSubmatch(out)
	if m == nil {
		stop()
		t.Fatalf("first start printed no test account:\n%s", out)
	}
	addr, password := m[1], m[2]
	certPEM, err := os.ReadFile(filepath.Join(dir, "petrel-data", "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	hostname, _ := os.Hostname()
	names := []string{"localhost", "127.0.0.1", "::1", strings.ToLower(hostname)}
	for _, name := range names {
		// Each name the certificate must carry, verified on the
		// loopback address it stands for (the hostname's on 127.0.0.1).
		dial := "127.0.0.1"
		if name == "::1" {
			if len(loopbacks(t)) < 2 {
				continue
			}
			dial = "::1"
		}
		c, err := imapclient.DialStartTLS(net.JoinHostPort(dial, "1430"), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: roots, ServerName: name}})
		if err != nil {
			t.Errorf("IMAP STARTTLS on %s, verifying the certificate for %q: %v", dial, name, err)
			continue
		}
		if err := c.Login(addr, password).Wait(); err != nil {
			t.Errorf("login as the printed test account %s: %v", addr, err)
		}
		c.Logout().Wait()
		c.Close()
	}
	if ip := nonLoopbackIP(); ip != nil {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), "1430"), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("--dev answers on %s, not on loopback only", ip)
		}
	}
	if logs := stop(); !strings.Contains(logs, "stopped") {
		t.Errorf("no clean stop after SIGINT:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "petrel-data")); err != nil {
		t.Errorf("data not in ./petrel-data: %v", err)
	}

	out, stop = run()
	stop()
	if account.MatchString(out) {
		t.Errorf("second start made another test account:\n%s", out)
	}
	if want := "petrel user passwd " + addr; !strings.Contains(out, want) {
		t.Errorf("second start does not say how to reset the test account's password (%q):\n%s", want, out)
	}
}

// requireDevPorts skips the test when a port of `serve --dev` is taken on
// a loopback address (by a developer's own server, say): --dev needs them.
func requireDevPorts(t *testing.T) {
	t.Helper()
	for _, port := range []int{2525, 5870, 4650, 1430, 9930, 1100, 9950, 8080} {
		for _, host := range loopbacks(t) {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				t.Skipf("port %d is taken on %s on this machine; --dev needs it: %v", port, host, err)
			}
			l.Close()
		}
	}
}

// runDev runs `petrel serve --dev` in dir, as the README does, with no
// config, and waits until it has started and printed its "petrel --dev:"
// line; it returns what it printed, and stop, which sends SIGINT (Ctrl-C),
// waits for the exit and returns the logs.
func runDev(t *testing.T, dir string) (out string, stop func() string) {
	t.Helper()
	cmd := exec.Command(petrelBin, "serve", "--dev")
	cmd.Dir = dir
	cmd.Env = withoutPetrelVars(os.Environ())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	printed := &syncBuffer{}
	go io.Copy(printed, stdout)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "petrel started") || !strings.Contains(printed.String(), "petrel --dev:") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("petrel serve --dev did not start:\n%s\n%s", printed, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return printed.String(), func() string {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("petrel serve --dev exited with %v after SIGINT:\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("petrel serve --dev did not stop on SIGINT")
		}
		return logs.String()
	}
}

// loopbacks are the loopback addresses of this machine: 127.0.0.1, and
// ::1 where it has IPv6.
func loopbacks(t *testing.T) []string {
	t.Helper()
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		return []string{"127.0.0.1", "::1"}
	}
	return []string{"127.0.0.1"}
}

// nonLoopbackIP is an address of this machine other programs on the
// network reach it by, or nil.
func nonLoopbackIP() net.IP {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP
		}
	}
	return nil
}

// A port below 1024 without the privilege to bind it: one line that says
// what is wrong and the three fixes, and exit status 1.
func TestPrivilegedPortRefused(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Skip("no ip_unprivileged_port_start here")
	}
	if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start <= 25 {
		t.Skipf("any user may bind port 25 here (ip_unprivileged_port_start = %d)", start)
	}
	dir, err := os.MkdirTemp("", "petrel-noroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	cfg := filepath.Join(dir, "petrel.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("hostname = \"mx.example.com\"\ndata_dir = %q\n[listen]\nsmtp = \"127.0.0.1:25\"\n", filepath.Join(dir, "data"))), 0o644)
	cmd := exec.Command(petrelBin, "serve", "--config", cfg)
	cmd.Env = withoutPetrelVars(os.Environ())
	if os.Getuid() == 0 {
		// As root anything binds: run as nobody, as a user would.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		os.Chmod(filepath.Dir(petrelBin), 0o755)
	}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("serve on port 25 without privilege: %v\n%s", err, out)
	}
	var last string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		last = sc.Text()
	}
	for _, want := range []string{"listen.smtp 127.0.0.1:25: permission denied", "root", "setcap cap_net_bind_service=+ep", "--dev"} {
		if !strings.Contains(last, want) {
			t.Errorf("error line lacks %q: %q", want, last)
		}
	}
}

// withoutPetrelVars drops PETREL_… variables, so that a developer's
// environment cannot change what the test runs.
func withoutPetrelVars(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "PETREL_") {
			out = append(out, e)
		}
	}
	return out
}
