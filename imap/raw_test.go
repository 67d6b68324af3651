package imap_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// rawConn speaks IMAP by hand, for what imapclient will not send (bad
// syntax, SEARCHRES, oversized literals) or to see the exact bytes.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
	n  int
}

func (e *env) raw(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawConn{c: c, br: bufio.NewReader(c)}
	if g := r.line(t); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

func newRaw(t testing.TB, c net.Conn) *rawConn {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	r := &rawConn{c: c, br: bufio.NewReader(c)}
	if g := r.line(t); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

func (r *rawConn) startTLS(t testing.TB, cfg *tls.Config) {
	t.Helper()
	r.cmd(t, "STARTTLS", "OK")
	tc := tls.Client(r.c, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	r.c = tc
	r.br = bufio.NewReader(tc)
}

func (r *rawConn) send(t testing.TB, s string) {
	t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write([]byte(s + "\r\n")); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func (r *rawConn) line(t testing.TB) string {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (after %q)", err, l)
	}
	return l
}

// until reads up to the tagged reply for tag and checks its status.
func (r *rawConn) until(t testing.TB, tag, status string) string {
	t.Helper()
	var b strings.Builder
	for {
		l := r.line(t)
		b.WriteString(l)
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" "+status) {
				t.Fatalf("want %s %s, got:\n%s", tag, status, b.String())
			}
			return b.String()
		}
	}
}

// cmd sends a tagged command and returns everything up to its reply.
func (r *rawConn) cmd(t testing.TB, command, status string) string {
	t.Helper()
	r.n++
	tag := fmt.Sprintf("t%d", r.n)
	r.send(t, tag+" "+command)
	return r.until(t, tag, status)
}

func (r *rawConn) login(t testing.TB) {
	t.Helper()
	r.cmd(t, "LOGIN user@example.org secret", "OK")
}
