package main

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawPair connects a rawClient to a scripted server: for each command line
// it reads, reply returns what to send back.
func rawPair(t *testing.T, reply func(line string) string) *rawClient {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() {
		r := bufio.NewReader(b)
		b.Write([]byte("* OK ready\r\n"))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if out := reply(strings.TrimRight(l, "\r\n")); out != "" {
				b.Write([]byte(out))
			}
		}
	}()
	c := &rawClient{conn: a, r: bufio.NewReaderSize(countConn{a, &received}, 64), w: bufio.NewWriter(a)}
	a.SetDeadline(time.Now().Add(10 * time.Second))
	if l, err := c.readLine(); err != nil || string(l) != "* OK ready" {
		t.Fatalf("greeting %q %v", l, err)
	}
	return c
}

// TestRawClient: literals are skipped by their count (also ones longer than
// the read buffer, and a line holding two), EXISTS and EXPUNGE keep the
// count, FETCH responses are counted, and a tagged NO or BAD is an error.
func TestRawClient(t *testing.T) {
	body := strings.Repeat("line with a ) and r1 OK inside\r\n", 20)
	c := rawPair(t, func(l string) string {
		tag, cmd, _ := strings.Cut(l, " ")
		switch {
		case strings.HasPrefix(cmd, "SELECT"):
			return "* 300 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n" + tag + " OK [READ-WRITE] done\r\n"
		case strings.HasPrefix(cmd, "FETCH"):
			return "* 1 FETCH (UID 7 BODY[] {" + strconv.Itoa(len(body)) + "}\r\n" + body + ")\r\n" +
				"* 2 FETCH (UID 8 BODY[HEADER] {3}\r\nabc BODY[TEXT] {2}\r\nde)\r\n" +
				"* 299 EXPUNGE\r\n" + tag + " OK fetched\r\n"
		case strings.HasPrefix(cmd, "EXPUNGE"):
			return "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n" + tag + " OK\r\n"
		case strings.HasPrefix(cmd, "BAD"):
			return tag + " BAD no such command\r\n"
		}
		return tag + " NO what\r\n"
	})
	if _, err := c.cmd("SELECT INBOX"); err != nil || c.count != 300 {
		t.Fatalf("SELECT: %v, count %d", err, c.count)
	}
	n, err := c.cmd("FETCH 1:2 (UID BODY.PEEK[])")
	if err != nil || n != 2 || c.count != 299 {
		t.Fatalf("FETCH: %d responses, %v, count %d; want 2, nil, 299", n, err, c.count)
	}
	if _, err := c.cmd("EXPUNGE"); err != nil || c.count != 297 {
		t.Fatalf("EXPUNGE: %v, count %d", err, c.count)
	}
	if _, err := c.cmd("BAD"); err == nil || !strings.Contains(err.Error(), "BAD") {
		t.Fatalf("BAD: %v", err)
	}
	if _, err := c.cmd("NOOP"); err == nil {
		t.Fatal("NO taken for OK")
	}
}
