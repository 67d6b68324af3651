package mta

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/netlimit"
)

// Hostile clients, over real sockets: what they send is refused or cut
// off, the server stays up, and a well-behaved client is served meanwhile.

// tenMiB is a line of 10 MiB without a newline.
var tenMiB = bytes.Repeat([]byte("x"), 10<<20)

// flood writes b to c in the background (the server may stop reading and
// close), and reports how much it wrote.
func flood(c net.Conn, b []byte) <-chan int {
	done := make(chan int, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		n, _ := c.Write(b)
		done <- n
	}()
	return done
}

// untilClosed reads what the server still sends until it closes the
// connection (or 10 s pass, which fails the test).
func untilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server did not close the connection; it sent %q", b)
	}
	return string(b)
}

func TestTenMiBLineWithoutNewline(t *testing.T) {
	ts := newTestServer(t)
	t.Run("command", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		wrote := flood(d.conn, tenMiB)
		out := untilClosed(t, d.conn)
		if !strings.HasPrefix(out, "500 ") || !strings.Contains(strings.ToLower(out), "too long") {
			t.Errorf("10 MiB command line: got %q, want 500 … too long, then close", out)
		}
		if n := <-wrote; n == len(tenMiB) {
			t.Logf("the server read all 10 MiB before refusing")
		}
	})
	t.Run("DATA", func(t *testing.T) {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("EHLO crepes.fr", 250)
		d.expect("MAIL FROM:<alice@crepes.fr>", 250)
		d.expect("RCPT TO:<bob@hamburger.edu>", 250)
		d.expect("DATA", 354)
		wrote := flood(d.conn, append([]byte("Subject: flood\r\n\r\n"), tenMiB...))
		out := untilClosed(t, d.conn)
		if !strings.HasPrefix(out, "500 5.5.2 ") {
			t.Errorf("10 MiB body line: got %q, want 500 5.5.2 Line too long, then close", out)
		}
		<-wrote
		if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 0 {
			t.Errorf("stored %d messages", len(msgs))
		}
	})
	// The server still serves.
	if err := sendPlain(t, ts.smtpAddr, "alice@crepes.fr", []string{"bob@hamburger.edu"}, strings.NewReader("Subject: after\r\n\r\nok\r\n")); err != nil {
		t.Fatalf("after the floods: %v", err)
	}
}

// TestNULAndInvalidUTF8: commands with a NUL byte or invalid UTF-8 are
// refused (an address with one never gets into a transaction), valid UTF-8
// with SMTPUTF8 is accepted, and the session goes on.
func TestNULAndInvalidUTF8(t *testing.T) {
	ts := newTestServer(t)
	d := dial(t, ts.smtpAddr)
	d.read()
	d.expect("EHLO crepes.fr", 250)
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"\x00\x00\x00", false},
		{"NO\x00OP", false},
		{"\xff\xfe\xfd", false},
		{"MAIL FROM:<al\x00ice@crepes.fr>", false},
		{"MAIL FROM:<alice@cre\xffpes.fr>", false},
		{"MAIL FROM:<\xc3\xa9lise@crepes.fr> SMTPUTF8", true},
		{"RCPT TO:<bob\x00@hamburger.edu>", false},
		{"RCPT TO:<\xff\xfe@hamburger.edu>", false},
		{"RCPT TO:<bob@hamburger.edu\x00.evil.example>", false},
		{"RCPT TO:<bob@hamburger.edu>", true},
		{"RSET", true},
	} {
		code, msg := d.send(tc.line)
		if ok := code >= 200 && code < 400; ok != tc.ok || code == 421 {
			t.Errorf("%q: %d %s (want accepted %v)", tc.line, code, msg, tc.ok)
		}
	}
	d.expect("NOOP", 250)
	if q := ts.queue.all(); len(q) != 0 {
		t.Errorf("queued %v", q)
	}
}

// TestSlowloris: a client that sends its command line one byte every
// 300 ms is cut off by the command timeout (as is one that trickles its
// message body), while a well-behaved client completes a transaction at
// the same time.
func TestSlowloris(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.CommandTimeout = time.Second
		o.DataTimeout = time.Second
	})
	const line = "MAIL FROM:<slowly-but-surely@crepes.fr>\r\n" // 41 bytes, 12 s at 300 ms a byte
	slow := func(t *testing.T, d *dialog) {
		// The server's replies, read as they come, until it closes.
		replies := make(chan string, 1)
		go func() {
			d.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, _ := io.ReadAll(d.conn)
			replies <- string(b)
		}()
		sent := 0
		for ; sent < len(line); sent++ {
			d.conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := d.conn.Write([]byte{line[sent]}); err != nil {
				break
			}
			select {
			case out := <-replies:
				replies <- out
			case <-time.After(300 * time.Millisecond):
				continue
			}
			break
		}
		out := <-replies
		if sent == len(line) {
			t.Fatalf("the slowloris sent its whole line without being cut off; server said %q", out)
		}
		if !strings.Contains(out, "421 4.4.2") || strings.Contains(out, "250 ") {
			t.Errorf("slowloris got %q, want 421 4.4.2 and nothing accepted", out)
		}
		t.Logf("cut off after %d of %d bytes: %q", sent, len(line), out)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		t.Run("command line", func(t *testing.T) {
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO crepes.fr", 250) // for the enhanced code in the 421
			slow(t, d)
		})
	}()
	go func() {
		defer wg.Done()
		t.Run("body", func(t *testing.T) {
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO crepes.fr", 250)
			d.expect("MAIL FROM:<alice@crepes.fr>", 250)
			d.expect("RCPT TO:<bob@hamburger.edu>", 250)
			d.expect("DATA", 354)
			slow(t, d)
		})
	}()
	// Meanwhile, transactions go through.
	for i := range 3 {
		time.Sleep(500 * time.Millisecond)
		if err := sendPlain(t, ts.smtpAddr, "alice@crepes.fr", []string{"bob@hamburger.edu"}, strings.NewReader(fmt.Sprintf("Subject: good %d\r\n\r\nok\r\n", i))); err != nil {
			t.Errorf("good client during the slowloris: %v", err)
		}
	}
	wg.Wait()
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 3 {
		t.Errorf("bob has %d messages, want the good client's 3", len(msgs))
	}
}

// TestThousandIdleConnections: 1,000 connections opened and left idle
// (each greeted: a session each on the server) do not keep a good client
// from completing a transaction, and the server's memory grows by a small
// bounded amount per connection. netlimit is in front, as in petrel serve,
// with its per-address cap raised from 50 to let them all in.
func TestThousandIdleConnections(t *testing.T) {
	ts := newTestServer(t)
	const n = 1000
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := netlimit.Wrap(inner, netlimit.Limits{Total: n + 10, PerIP: n + 1, RatePerIP: 60, RateExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, RejectBusy)
	go ts.mta.ServeSMTP(limited)
	ts.smtpAddr = inner.Addr().String()
	inUse := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before, goroutines := inUse(), runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", ts.smtpAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
			t.Fatalf("connection %d: greeting %q, %v", i, l, err)
		}
	}
	if err := sendPlain(t, ts.smtpAddr, "alice@crepes.fr", []string{"bob@hamburger.edu"}, strings.NewReader("Subject: through the crowd\r\n\r\nok\r\n")); err != nil {
		t.Fatalf("good client with %d idle connections open: %v", n, err)
	}
	if _, msgs := inbox(t, ts.store, "bob@hamburger.edu"); len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	// The good client's connection is released when the server has seen
	// it close, a moment after the client's QUIT returns.
	var total int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if total, _ = limited.Count("127.0.0.1"); total == n || time.Now().After(deadline) {
			break
		}
	}
	if total != n {
		t.Errorf("netlimit counts %d open, want %d", total, n)
	}
	after := inUse()
	per := (int64(after) - int64(before)) / n
	t.Logf("heap+stacks: %d KiB before, %d KiB with %d idle connections: %d bytes each", before>>10, after>>10, n, per)
	// A session costs its goroutine's stack and go-smtp's buffers (a few
	// KiB each); 64 KiB a connection would be a leak or a big buffer.
	if per > 64<<10 {
		t.Errorf("%d bytes per idle connection, want under 64 KiB", per)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(10 * time.Second)
	for total, _ := limited.Count("127.0.0.1"); total != 0; total, _ = limited.Count("127.0.0.1") {
		if time.Now().After(deadline) {
			t.Fatalf("netlimit still counts %d open after the idle clients left", total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for runtime.NumGoroutine() > goroutines+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 10s after the idle clients left, %d before they came", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStalledDataEndsSession: when a client stalls in the middle of DATA
// past the data timeout, the session ends with 421; what it sends later is
// never read as commands (it could be a message body that says "RCPT TO:").
func TestStalledDataEndsSession(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.DataTimeout = 500 * time.Millisecond })
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial line %v", partial), func(t *testing.T) {
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO crepes.fr", 250)
			d.expect("MAIL FROM:<alice@crepes.fr>", 250)
			d.expect("RCPT TO:<bob@hamburger.edu>", 250)
			d.expect("DATA", 354)
			start := time.Now() // the server reads what follows after it
			io.WriteString(d.conn, "Subject: stalled\r\n\r\nfirst line\r\n")
			if partial {
				io.WriteString(d.conn, "RCPT TO:<alice@hamb")
			}
			// The stall: the server's reply comes after the data timeout,
			// when it gives up. Then the client speaks again.
			code, msg := d.read()
			if el := time.Since(start); el < 400*time.Millisecond {
				t.Errorf("the server gave up after %v, before the data timeout of 500ms", el)
			}
			io.WriteString(d.conn, "RSET\r\nNOOP\r\nMAIL FROM:<x@crepes.fr>\r\nRCPT TO:<alice@hamburger.edu>\r\nDATA\r\n")
			d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(d.tp.R)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server did not close the connection; it sent %q", rest)
			}
			if code != 421 || !strings.HasPrefix(msg, "4.4.2 ") || len(rest) != 0 {
				t.Errorf("after a stall in DATA: %d %s, then %q; want 421 4.4.2 and nothing else run", code, msg, rest)
			}
		})
	}
	for _, who := range []string{"bob@hamburger.edu", "alice@hamburger.edu"} {
		if _, msgs := inbox(t, ts.store, who); len(msgs) != 0 {
			t.Errorf("%s has %d messages", who, len(msgs))
		}
	}
}

// TestSlowlorisImplicitTLS: on port 465 too (ServeSubmissionTLS puts the
// timeout under the TLS layer), a trickled command line is cut off with
// 421 4.4.2, not run in pieces.
func TestSlowlorisImplicitTLS(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.CommandTimeout = time.Second })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.mta.ServeSubmissionTLS(l, ts.mta.opts.TLSConfig)
	c, err := tls.Dial("tcp", l.Addr().String(), ts.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := &dialog{t: t, conn: c, tp: textproto.NewConn(c)}
	d.read()
	d.expect("EHLO crepes.fr", 250)
	replies := make(chan string, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(c)
		replies <- string(b)
	}()
	const line = "AUTH PLAIN AGJvYkBoYW1idXJnZXIuZWR1AHNlY3JldA==\r\n"
	sent := 0
	for ; sent < len(line); sent++ {
		if _, err := c.Write([]byte{line[sent]}); err != nil {
			break
		}
		if len(replies) > 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	out := <-replies
	if sent == len(line) {
		t.Fatalf("the whole line was sent before the cut: %q", out)
	}
	if !strings.Contains(out, "421 4.4.2") || strings.Contains(out, "235") {
		t.Errorf("trickled AUTH on 465: %q, want 421 4.4.2", out)
	}
}
