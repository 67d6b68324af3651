package pop3_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/pop3"
)

// Hostile clients, over real sockets: what they send is refused or cut
// off, the server stays up, and a well-behaved client is served meanwhile.

// TestTenMiBLineWithoutNewline: a 10 MiB command line is read and dropped
// without being kept in memory; when its newline finally comes it gets
// -ERR line too long, and the session goes on.
func TestTenMiBLineWithoutNewline(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, "Subject: one\r\n\r\nbody\r\n")
	for _, loggedIn := range []bool{false, true} {
		var c *client
		if loggedIn {
			c = e.login(t)
		} else {
			c = e.dial(t)
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		done := make(chan error, 1)
		go func() {
			_, err := c.conn.Write(bytes.Repeat([]byte("x"), 10<<20))
			done <- err
		}()
		if err := <-done; err != nil {
			t.Fatalf("the server stopped reading a long line: %v", err)
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 2<<20 {
			t.Errorf("heap grew %d bytes while a 10 MiB line arrived", grew)
		}
		c.expect("", "-ERR line too long")
		if loggedIn {
			c.expect("STAT", "+OK 1 ")
		} else {
			c.expect("USER alice@example.org", "+OK")
			c.expect("PASS secret", "+OK")
		}
		c.expect("QUIT", "+OK")
	}
}

// TestNULAndInvalidUTF8: commands with a NUL byte or invalid UTF-8 get
// -ERR (a user name with one logs nobody in), before and after login, and
// the session goes on.
func TestNULAndInvalidUTF8(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, "Subject: one\r\n\r\nbody\r\n")
	c := e.dial(t)
	for _, line := range []string{"\x00", "US\x00R alice@example.org", "\xff\xfe\xfd", "STAT\x00", "USER alice\x00@example.org", "USER alice@example.org\x00"} {
		c.expect(line, "-ERR")
	}
	c.expect("USER \xffalice@example.org", "+OK") // USER never says whether a user exists
	c.expect("PASS secret", "-ERR")
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret\x00", "-ERR")
	c.expect("USER alice@example.org", "+OK")
	c.expect("PASS secret", "+OK")
	for _, line := range []string{"RETR \x00", "RETR 1\x00", "TOP 1 \xff", "DELE \xc3\x28", "UIDL \x001", "LIST 1 \x00"} {
		c.expect(line, "-ERR")
	}
	c.expect("STAT", "+OK 1 ")
	c.expect("QUIT", "+OK")
	if uids := e.inboxUIDs(t); len(uids) != 1 {
		t.Errorf("INBOX has %d messages after the bad commands, want 1", len(uids))
	}
}

// TestSlowloris: a client that sends its command line one byte every
// 300 ms is cut off by the idle timeout (the line must arrive whole within
// it), while a well-behaved client logs in and reads mail at the same time.
func TestSlowloris(t *testing.T) {
	e := newEnv(t, func(o *pop3.Options) { o.IdleTimeout = time.Second })
	e.deliver(t, "Subject: one\r\n\r\nbody\r\n")
	const line = "USER alice@example.org\r\n" // 24 bytes, 7 s at 300 ms a byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		replies := make(chan string, 1)
		go func() {
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, _ := io.ReadAll(conn)
			replies <- string(b)
		}()
		sent := 0
		for ; sent < len(line); sent++ {
			time.Sleep(300 * time.Millisecond)
			if _, err := conn.Write([]byte{line[sent]}); err != nil || len(replies) > 0 {
				break
			}
		}
		out := <-replies
		if sent == len(line) {
			t.Errorf("the slowloris sent its whole line without being cut off: %q", out)
		}
		if !strings.Contains(out, "-ERR autologout") || strings.Count(out, "+OK") != 1 { // the greeting
			t.Errorf("slowloris got %q, want the greeting, then -ERR autologout and the end", out)
		}
		t.Logf("slowloris cut off after %d of %d bytes", sent, len(line))
	}()
	for i := range 4 {
		time.Sleep(400 * time.Millisecond)
		c := e.login(t)
		c.expect("STAT", "+OK 1 ")
		c.expect("RETR 1", "+OK")
		if b := c.body(); !bytes.Contains(b, []byte("body")) {
			t.Errorf("good client %d: RETR gave %q", i, b)
		}
		c.expect("QUIT", "+OK")
	}
	wg.Wait()
}
