package imap_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
)

// stallBound is well under Linux's 40 ms delayed-ACK timer, which a
// stalled APPEND waits for every time, and well over what an APPEND takes
// on a busy machine.
const stallBound = 20 * time.Millisecond

// TestAppendLiteralCRLFWrittenApart: a client with Nagle's algorithm on
// that writes an APPEND literal and its CRLF in separate writes (as
// Python's imaplib does) must not wait for the server's delayed ACK: the
// server acknowledges the literal when it reads it (TCP_QUICKACK), so the
// CRLF follows at once. Without that, every APPEND took 40–50 ms.
func TestAppendLiteralCRLFWrittenApart(t *testing.T) {
	e := newEnv(t)
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(false)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	until := func(prefix string) {
		t.Helper()
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
		}
	}
	until("* OK")
	fmt.Fprintf(c, "a LOGIN user@example.org secret\r\n")
	until("a OK")
	msg := crlf(simpleMsg("split", strings.Repeat("a line of the body\n", 40)))
	best := time.Hour
	for i := range 5 {
		t0 := time.Now()
		fmt.Fprintf(c, "b%d APPEND INBOX {%d}\r\n", i, len(msg))
		until("+")
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("\r\n")); err != nil {
			t.Fatal(err)
		}
		until(fmt.Sprintf("b%d OK", i))
		best = min(best, time.Since(t0))
	}
	if best >= stallBound {
		t.Errorf("the fastest of 5 APPENDs took %v, want under %v (a delayed-ACK stall)", best, stallBound)
	}
}

// TestPythonImaplibAppend: Python's imaplib itself, whose APPENDs took
// 44 ms each against Petrel (2 ms against Dovecot).
func TestPythonImaplibAppend(t *testing.T) {
	python := testenv.RequireTool(t, "python3")
	e := newEnv(t)
	p := filepath.Join(t.TempDir(), "msg.eml")
	must(t, os.WriteFile(p, []byte(crlf(simpleMsg("from imaplib", strings.Repeat("a line of the body\n", 40)))), 0o600))
	host, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command(python, "testdata/imaplib_append.py", host, port, "user@example.org", "secret", p, "10").Output()
	if err != nil {
		t.Fatalf("imaplib_append.py: %v\n%s", err, out)
	}
	var res struct {
		Count int     `json:"count"`
		Min   float64 `json:"min_ms"`
		P50   float64 `json:"p50_ms"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("imaplib_append.py said %q: %v", out, err)
	}
	if res.Count != 10 {
		t.Fatalf("%d APPENDs, want 10", res.Count)
	}
	if time.Duration(res.Min*float64(time.Millisecond)) >= stallBound {
		t.Errorf("the fastest imaplib APPEND took %.1f ms (median %.1f), want under %v", res.Min, res.P50, stallBound)
	}
	t.Logf("imaplib APPEND: min %.2f ms, median %.2f ms", res.Min, res.P50)
}
