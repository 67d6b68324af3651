package webmail

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	nettextproto "net/textproto"

	"github.com/emersion/go-message/textproto"
)

// FuzzBuild: whatever is typed into subject, to, cc and bcc, the message
// built has one header with one From, one Subject, at most one To and Cc,
// no Bcc, and no field the form did not make.
func FuzzBuild(f *testing.F) {
	f.Add("hi\r\nBcc: x@y", "a@example.org", "b@example.org", "c@example.org", "body")
	f.Add("=?utf-8?q?x?=\n\nbody", "\"A\r\n\" <a@example.org>", "", "", "")
	s := New(Options{Hostname: "mx.example.com", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Unix(1e9, 0) }})
	allowed := map[string]bool{"Date": true, "Message-Id": true, "From": true, "To": true, "Cc": true, "Subject": true,
		"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}
	f.Fuzz(func(t *testing.T, subject, to, cc, bcc, body string) {
		msg, _, err := s.build(&composeForm{From: "ann@example.com", To: to, Cc: cc, Bcc: bcc, Subject: subject, Body: body}, nil, nil, nil, false)
		if err != nil {
			return // refused on the form
		}
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		if err != nil {
			t.Fatalf("built header does not parse: %v\n%s", err, msg)
		}
		counts := map[string]int{}
		for f := h.Fields(); f.Next(); {
			k := nettextproto.CanonicalMIMEHeaderKey(f.Key())
			counts[k]++
			if !allowed[k] {
				t.Fatalf("field %s made from the form:\n%s", k, msg)
			}
		}
		for k, n := range counts {
			if n > 1 {
				t.Fatalf("%d %s fields:\n%s", n, k, msg)
			}
		}
		if counts["Subject"] != 1 || counts["From"] != 1 {
			t.Fatalf("Subject or From missing:\n%s", msg)
		}
	})
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/m/1", "//evil", "/\\evil", "https://x", "/%2f/x", "/\t/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") || strings.ContainsAny(got, "\r\n\t\\") {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
	})
}
