package queue

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A DSN carries back at most maxDSNHeader of the original's header, cut
// between whole fields, and never its body: a stranger cannot make Petrel
// mail out 186 KB of headers of its choosing (issue 18.6).
func TestDSNHeaderCapped(t *testing.T) {
	var h strings.Builder
	for i := 0; h.Len() < 186<<10; i++ {
		fmt.Fprintf(&h, "X-Junk-%d: %s\r\n\tfolded %d\r\n", i, strings.Repeat("j", 200), i)
	}
	for _, tc := range []struct {
		name, msg string
		max       int
	}{
		{"186 KB of header", "Subject: spam\r\n" + h.String() + "\r\nbody line\r\n", maxDSNHeader},
		{"small", "Subject: hi\r\nFrom: a@b.test\r\n\r\nsecret body\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := &Item{ID: "q", From: "a@b.test", Arrived: time.Now()}
			dsn := makeDSN("petrel.test", it, []byte(tc.msg), []Rcpt{{Addr: "c@d.test", State: Failed, LastReply: "550 no"}}, actionFailed, time.Now())
			i := bytes.Index(dsn, []byte("Content-Type: text/rfc822-headers\r\n\r\n"))
			if i < 0 {
				t.Fatal("no text/rfc822-headers part")
			}
			part := dsn[i+len("Content-Type: text/rfc822-headers\r\n\r\n"):]
			part = part[:bytes.Index(part, []byte("\r\n--"))]
			if tc.max == 0 {
				if want := "Subject: hi\r\nFrom: a@b.test\r\n"; string(part) != want {
					t.Errorf("headers part %q, want %q", part, want)
				}
				return
			}
			if len(part) > tc.max || len(part) < tc.max/2 {
				t.Errorf("headers part is %d bytes, want at most %d (and not much less)", len(part), tc.max)
			}
			if !strings.HasPrefix(tc.msg, string(part)) || !bytes.HasSuffix(part, []byte("\r\n")) || strings.HasPrefix(tc.msg[len(part):], " ") || strings.HasPrefix(tc.msg[len(part):], "\t") {
				t.Errorf("headers part is not whole fields of the original")
			}
			if len(dsn) > tc.max+4<<10 {
				t.Errorf("DSN of %d bytes", len(dsn))
			}
		})
	}
}
