package pop3_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzSession: arbitrary bytes as the rest of a whole client session,
// started in each state (AUTHORIZATION, after USER, TRANSACTION). The
// server never panics or hangs: it ends the session once the client has
// sent everything, every line it writes ends in CRLF, and the next client
// logs in and is served (no maildrop lock is left behind).
func FuzzSession(f *testing.F) {
	e := newEnv(f)
	seeds := []struct {
		state uint8
		input string
	}{
		{0, "CAPA\r\nUSER alice@example.org\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n"},
		{0, "AUTH PLAIN\r\nAGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\nLIST 1\r\n"},
		{0, "AUTH PLAIN *\r\nAUTH XOAUTH2\r\nAUTH\r\nAPOP a b\r\n"},
		{1, "PASS wrong\r\nPASS secret\r\n"},
		{2, "RETR 99999999999999999999\r\nTOP 1 -1\r\nDELE 1\r\nDELE 1\r\nQUIT\r\n"},
		{2, "LIST\nUIDL\rSTAT\x00\r\n" + strings.Repeat("A", 3000) + "\r\n"},
		{2, "STLS\r\n\x16\x03\x01\x00\x05hello"},
		{0, "STLS\r\n"},
		{2, ""},
	}
	for _, s := range seeds {
		f.Add(s.state, []byte(s.input))
	}
	prefixes := []string{"", "USER alice@example.org\r\n", "USER alice@example.org\r\nPASS secret\r\n"}
	f.Fuzz(func(t *testing.T, state uint8, input []byte) {
		if len(e.inboxUIDs(t)) == 0 {
			e.deliver(t, "Subject: one\r\n\r\nbody one\r\n", "Subject: two\r\n\r\n.starts with a dot\r\n")
		}
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		go func() {
			conn.Write(append([]byte(prefixes[int(state)%len(prefixes)]), input...))
			conn.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the session did not end 20s after the client sent everything; it wrote:\n%q", tail(out))
		}
		if !bytes.HasPrefix(out, []byte("+OK")) {
			t.Fatalf("no greeting: %q", tail(out))
		}
		// Text up to a TLS record (after STLS the server speaks TLS) is
		// lines, each ending in CRLF.
		text := out
		for _, rec := range []string{"\x15\x03", "\x16\x03"} {
			if k := bytes.Index(text, []byte(rec)); k >= 0 {
				text = text[:k]
			}
		}
		if len(text) == len(out) && !bytes.HasSuffix(text, []byte("\r\n")) {
			t.Fatalf("output ends with an unterminated line: %q", tail(out))
		}
		for k := bytes.IndexByte(text, '\n'); k >= 0; k = bytes.IndexByte(text, '\n') {
			if k == 0 || text[k-1] != '\r' {
				t.Fatalf("a line ends in a bare LF: %q", tail(out))
			}
			text = text[k+1:]
		}

		// The next client is served.
		c := e.dial(t)
		c.expect("USER alice@example.org", "+OK")
		c.expect("PASS secret", "+OK")
		c.expect("QUIT", "+OK")
	})
}

// tail is the end of a session's output, for failure messages.
func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
