package web_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"petrel/web"
)

// serveLimited serves the web handler with lim on 127.0.0.1:0, through
// Limits.Listener, and returns its address.
func serveLimited(t *testing.T, lim web.Limits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	srv := web.NewServer(web.New(web.Options{Hostname: "mx.example.com", Logger: quiet}), lim, quiet)
	go srv.Serve(lim.Listener(l, true))
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// closedWithin reads from c until the server closes it and says how long
// that took; it fails the test after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

// trickle writes s one byte every gap, until s is written or the server
// closes the connection.
func trickle(c net.Conn, s string, gap time.Duration) {
	for i := range len(s) {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// Idle and trickling HTTP clients are closed: every phase of a request has
// a timeout. Before, a kept-alive connection and a trickled body stayed
// open for good (only the header had a timeout).
func TestHTTPTimeouts(t *testing.T) {
	const timeout = 500 * time.Millisecond
	lim := web.Limits{ReadHeaderTimeout: timeout, ReadTimeout: 2 * timeout, IdleTimeout: timeout}
	addr := serveLimited(t, lim)
	// Each trickle lasts over 20 s, longer than closedWithin waits: only
	// the server's timeout for that phase can close the connection in time.
	slowBody := "<Autodiscover><Request><EMailAddress>bob@example.com</EMailAddress></Request></Autodiscover>" + strings.Repeat(" ", 400)
	tests := []struct {
		name string
		act  func(c net.Conn)
	}{
		{"idle from the start", func(net.Conn) {}},
		{"idle after a request", func(c net.Conn) {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("GET /healthz: %v", err)
			}
		}},
		{"trickled header", func(c net.Conn) {
			go trickle(c, "GET /healthz HTTP/1.1\r\nHost: example.com\r\nX-Slow: "+strings.Repeat("a", 400)+"\r\n\r\n", 50*time.Millisecond)
		}},
		{"trickled body", func(c net.Conn) {
			fmt.Fprintf(c, "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n", len(slowBody))
			go trickle(c, slowBody, 50*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tt.act(c)
			d := closedWithin(t, c, 20*timeout)
			t.Logf("closed after %v", d.Round(time.Millisecond))
		})
	}
}

// A request body past MaxBodyBytes is refused (413), whether announced by
// Content-Length or not; connections past the caps are answered 503.
func TestHTTPBodyAndConnectionLimits(t *testing.T) {
	addr := serveLimited(t, web.Limits{MaxBodyBytes: 1000})
	big := strings.Repeat("x", 5000)
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/autodiscover/autodiscover.xml", strings.NewReader(big))
		if chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(strings.NewReader(big))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a %d-byte body (chunked %v): %d, want 413 (or 400)", len(big), chunked, resp.StatusCode)
		}
	}

	addr = serveLimited(t, web.Limits{MaxConnsPerIP: 3})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		// A request answered shows the server holds the connection.
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a 4th connection from one address: %v %v, want 503", resp, err)
	}
}
