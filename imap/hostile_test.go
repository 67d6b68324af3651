package imap_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	pimap "petrel/imap"
)

// Hostile clients, over real sockets: what they send is refused or cut
// off, the server stays up, and a well-behaved client is served meanwhile.

// readUntilClosed returns what the server sends until it closes the
// connection; more than 10 s fails the test.
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server did not close the connection; it sent %q", b)
	}
	return string(b)
}

// TestTenMiBCommandLine: a 10 MiB command line without a newline, before
// and after login, is cut off (go-imap reads at most 50 KiB of a command)
// and the connection closed, never run; the server goes on serving.
func TestTenMiBCommandLine(t *testing.T) {
	e := newEnv(t)
	for _, loggedIn := range []bool{false, true} {
		r := e.raw(t)
		if loggedIn {
			r.login(t)
		}
		go func() {
			r.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			r.c.Write(append([]byte("a1 SEARCH SUBJECT "), bytes.Repeat([]byte("x"), 10<<20)...))
		}()
		rest, _ := io.ReadAll(r.br) // what was buffered
		out := string(rest) + readUntilClosed(t, r.c)
		if strings.Contains(out, "a1 OK") {
			t.Errorf("a 10 MiB command ran: %q", out)
		}
	}
	c := e.client(t, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("after the floods: %v", err)
	}
}

// TestNULAndInvalidUTF8: commands with a NUL byte or invalid UTF-8 are
// refused (BAD or NO), or the connection is closed; none creates a mailbox
// or logs in, and the server goes on serving.
func TestNULAndInvalidUTF8(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, simpleMsg("one", "body"))
	for _, tc := range []struct {
		login bool
		cmd   string
	}{
		{false, "LOGIN \"user@example.org\x00\" secret"},
		{false, "LOGIN user@example.org \"sec\x00ret\""},
		{false, "LOGIN \"\xffuser@example.org\" secret"},
		{false, "NOOP\x00"},
		{false, "\x00\x00"},
		{false, "\xff\xfe CAPABILITY"},
		{true, "SELECT \"IN\x00BOX\""},
		{true, "SELECT \xff\xfe"},
		{true, "CREATE \"\xc3\x28\""},
		{true, "CREATE \"a\x00b\""},
		{true, "RENAME INBOX \"\xff\""},
		{true, "STATUS \"\x00\" (MESSAGES)"},
	} {
		r := e.raw(t)
		if tc.login {
			r.login(t)
		}
		r.send(t, "x1 "+tc.cmd)
		r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got string
		for {
			l, err := r.br.ReadString('\n')
			if err != nil {
				got = "(closed)"
				break
			}
			if strings.HasPrefix(l, "x1 ") {
				got = strings.TrimSpace(l)
				break
			}
		}
		if strings.HasPrefix(got, "x1 OK") {
			t.Errorf("%q: %s", tc.cmd, got)
		}
		after := "(closed)"
		if got != "(closed)" {
			// The session goes on, or go-imap, which could not read the
			// rest of the line, closes it.
			r.c.Write([]byte("x2 NOOP\r\n"))
			for {
				l, err := r.br.ReadString('\n')
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("%q: the server neither answered NOOP nor closed", tc.cmd)
				}
				if err != nil {
					break
				}
				if strings.HasPrefix(l, "x2 ") {
					after = strings.TrimSpace(l)
					if after != "x2 OK NOOP completed" {
						t.Errorf("%q: then NOOP: %s", tc.cmd, after)
					}
					break
				}
			}
		}
		t.Logf("%q: %s, then %s", tc.cmd, got, after)
	}
	list, err := e.st.Mailboxes(e.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range list {
		if !utf8.ValidString(mb.Name) || strings.ContainsRune(mb.Name, 0) {
			t.Errorf("mailbox %q made", mb.Name)
		}
	}
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "SELECT INBOX", "OK")
}

// TestSlowloris: a client that sends its command one byte every 300 ms,
// before or after login, is logged out (the autologout clock runs until a
// whole command arrives; go-imap also allows a command 30 s), its
// command never run, while a well-behaved client works at the same time.
func TestSlowloris(t *testing.T) {
	e := newEnv(t, func(o *pimap.Options) { o.AutoLogout = time.Second })
	e.deliver(t, simpleMsg("one", "body"))
	// Fill the password cache through the store: on a busy machine the
	// password hash alone could outlast the 1s autologout of a LOGIN.
	if _, err := e.st.Authenticate(e.acct.Address, "secret"); err != nil {
		t.Fatal(err)
	}
	slow := func(t *testing.T, loggedIn bool, line string) {
		r := e.raw(t)
		if loggedIn {
			r.login(t)
		}
		replies := make(chan string, 1)
		go func() {
			r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, _ := io.ReadAll(r.br)
			replies <- string(b)
		}()
		sent := 0
		for ; sent < len(line); sent++ {
			time.Sleep(300 * time.Millisecond)
			if _, err := r.c.Write([]byte{line[sent]}); err != nil || len(replies) > 0 {
				break
			}
		}
		out := <-replies
		if sent == len(line) {
			t.Errorf("the slowloris sent its whole command without being cut off: %q", out)
		}
		if !strings.Contains(out, "* BYE") || strings.Contains(out, "s1 OK") {
			t.Errorf("slowloris got %q, want * BYE and its command not run", out)
		}
		t.Logf("cut off after %d of %d bytes: %q", sent, len(line), out)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		slow(t, false, "s1 LOGIN user@example.org secret\r\n")
	}()
	go func() {
		defer wg.Done()
		slow(t, true, "s1 CREATE Slowly-made\r\n")
	}()
	for i := range 4 {
		time.Sleep(400 * time.Millisecond)
		r := e.raw(t)
		r.login(t)
		r.cmd(t, "SELECT INBOX", "OK")
		if out := r.cmd(t, "FETCH 1 (BODY.PEEK[TEXT])", "OK"); !strings.Contains(out, "body") {
			t.Errorf("good client %d: FETCH gave %q", i, out)
		}
		r.cmd(t, "LOGOUT", "OK")
	}
	wg.Wait()
	if list, _ := e.st.Mailboxes(e.acct.ID); len(list) > 0 {
		for _, mb := range list {
			if mb.Name == "Slowly-made" {
				t.Error("the slowloris's CREATE ran")
			}
		}
	}
}
