package search

import (
	"petrel/store"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// FuzzParseHeader: the search-side header parser never panics.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("Subject: =?iso-8859-1?q?R=E9sum=E9?=\r\nFrom: x\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\nA:\r\n"))
	f.Add([]byte("Subject: =?bogus?b?!!!?=\n"))
	f.Add([]byte(" Subject: leading fold\r\nsubject : two\r\n\tthree\r\nX: y\r\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		for _, fl := range ParseHeader(hdr) {
			if fl.Value != strings.ToLower(fl.Value) {
				t.Fatalf("value not lower-cased: %q", fl.Value)
			}
		}
		// EachField, which SEARCH uses for a named field, finds the same
		// values as SplitHeader for every name there is.
		fields := SplitHeader(hdr)
		for _, name := range append([]string{"Subject"}, func() []string {
			var n []string
			for _, f := range fields {
				n = append(n, f.Name)
			}
			return n
		}()...) {
			if name == "" {
				continue
			}
			var want, got []string
			for _, f := range fields {
				if asciiEqualFold(f.Name, name) {
					want = append(want, f.Value)
				}
			}
			EachField(hdr, name, func(v string) {
				got = append(got, v)
			})
			if !slices.Equal(got, want) {
				t.Fatalf("field %q: EachField %q, SplitHeader %q", name, got, want)
			}
		}
	})
}

// FuzzMatch: any message, searched for any text by header, body and text
// keys, never panics, and a word taken from its Subject is found by the
// Subject key.
func FuzzMatch(f *testing.F) {
	f.Add([]byte("Subject: =?iso-8859-1?q?R=E9sum=E9?=\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfeh\x00i\x00"), "résumé")
	f.Add([]byte("Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n--b--\r\n"), "")
	f.Add([]byte("From: <a (c) @ b>\r\n\r\n"), "a@b")
	f.Fuzz(func(t *testing.T, msg []byte, s string) {
		root := store.ParseStructure(msg)
		m := &Msg{Meta: &store.Message{Size: int64(len(msg))}, C: &store.Content{Body: msg}, Root: root, HeaderEnd: root.BodyStart}
		for _, c := range []imap.SearchCriteria{
			{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: s}}},
			{Body: []string{s}},
			{Text: []string{s}},
			{Not: []imap.SearchCriteria{{SentSince: time.Unix(0, 0)}}},
		} {
			Match(&c, m)
		}
		if root.Envelope != nil {
			// The subject's first word is found by SEARCH SUBJECT.
			if ws := strings.Fields(root.Envelope.Subject); len(ws) > 0 {
				w := ws[0]
				if !strings.ContainsRune(w, utf8.RuneError) && !Match(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: w}}}, &Msg{Meta: &store.Message{}, C: &store.Content{Body: msg}, HeaderEnd: root.BodyStart}) {
					t.Fatalf("subject word %q not found", w)
				}
			}
		}
	})
}

// FuzzFillHeader: threading's header reader never panics, and what it
// reads stops at the header's end.
func FuzzFillHeader(f *testing.F) {
	f.Add([]byte("Subject: Re: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\nReferences: <a@x>\r\n <b@x>\r\nDate: 1 Dec 2026 09:00 +0100\r\n\r\n"))
	f.Add([]byte("In-Reply-To: <<<>>>\r\nMessage-ID: <\r\n\r\nReferences: <body@x>\r\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		var it Item
		it.FillHeader(hdr, true)
		var again Item
		again.FillHeader(append(append([]byte(nil), hdr...), "\r\n\r\nReferences: <late@x>\r\n"...), true)
		if slices.Contains(again.Refs, "late@x") && !slices.Contains(it.Refs, "late@x") && len(hdr) > 0 && !strings.Contains(string(hdr), "\n\n") && !strings.Contains(string(hdr), "\r\n\r\n") {
			t.Fatalf("a field after the header's end was read: %q", again.Refs)
		}
	})
}

// FuzzMessageIDs: the hand-written scanner finds what the regular
// expression <([^<>\s]+)> finds.
func FuzzMessageIDs(f *testing.F) {
	f.Add("<a@b> <c@d>")
	f.Add("<<a@b>> < x@y> <p q> <> <é@x>\t<z@\r\n>")
	re := regexp.MustCompile(`<([^<>\s]+)>`)
	f.Fuzz(func(t *testing.T, v string) {
		var want []string
		for _, m := range re.FindAllStringSubmatch(v, 100) {
			want = append(want, m[1])
		}
		if got := MessageIDs(v); !slices.Equal(got, want) {
			t.Fatalf("MessageIDs(%q) = %q, want %q", v, got, want)
		}
	})
}

// FuzzCollapseSpace: BaseSubject's white space folding is the regular
// expression's.
func FuzzCollapseSpace(f *testing.F) {
	f.Add("Re:  a\t\tsubject \r\n with  runs ")
	f.Add("plain subject")
	re := regexp.MustCompile(`\s+`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := collapseSpace(s), re.ReplaceAllString(s, " "); got != want {
			t.Fatalf("collapseSpace(%q) = %q, want %q", s, got, want)
		}
	})
}

// asciiEqualFold compares field names as RFC 5322 does: octets, US-ASCII
// letters without case (strings.EqualFold would take two different
// invalid UTF-8 octets for the same U+FFFD).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
