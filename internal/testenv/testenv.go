// Package testenv holds what Petrel's tests share about their environment:
// which outside programs (swaks, mbsync, fetchmail, Postfix…) they may use.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of the named program. Where it is missing the
// test is skipped on a developer's machine, but fails under CI (CI=true),
// whose .ci/run installs every tool the tests use.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/lib/postfix/sbin", "/usr/lib/dovecot"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	Unavailable(t, "%s is not installed (apt-get install the package that has it; .ci/run must)", name)
	return ""
}

// Unavailable ends a test that cannot run here for want of something the
// machine lacks (a program, root, a system user): skipped on a developer's
// machine, failed under CI (CI=true), whose machine must provide it.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must provide this: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RemoteListener wraps l so that every connection it accepts reports
// 192.0.2.7:40000 (TEST-NET-1) as its remote address: a client on loopback
// that the server under test must treat as one on the network, for the
// rules that spare loopback (plaintext logins, rate limits). It needs no
// non-loopback address on the machine, so such tests run everywhere.
func RemoteListener(l net.Listener) net.Listener { return remoteListener{l} }

type remoteListener struct{ net.Listener }

func (l remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c}, nil
}

type remoteConn struct{ net.Conn }

func (remoteConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
}
