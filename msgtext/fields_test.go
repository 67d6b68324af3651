package msgtext

import (
	"bytes"
	"strings"
	"testing"
)

type wantField struct {
	name, raw, unfolded, text string
	named                     bool
}

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want []wantField
	}{
		{"simple", "Subject: hi\r\nFrom: a@b\r\n\r\nBody: no\r\n", []wantField{
			{"Subject", "Subject: hi\r\n", " hi", "hi", true},
			{"From", "From: a@b\r\n", " a@b", "a@b", true},
		}},
		{"folded", "Subject: one\r\n\t two  \r\n three\r\nX: y\r\n\r\n", []wantField{
			{"Subject", "Subject: one\r\n\t two  \r\n three\r\n", " one\t two   three", "one two three", true},
			{"X", "X: y\r\n", " y", "y", true},
		}},
		{"bare LF and no body", "A: 1\n b\nB:2", []wantField{
			{"A", "A: 1\n b\n", " 1 b", "1 b", true},
			{"B", "B:2", "2", "2", true},
		}},
		{"obsolete blank before colon", "Received \t: x\r\n\r\n", []wantField{
			{"Received", "Received \t: x\r\n", " x", "x", true},
		}},
		{"no colon", "garbage line\r\nA: b: c\r\n\r\n", []wantField{
			{"", "garbage line\r\n", "", "", false},
			{"A", "A: b: c\r\n", " b: c", "b: c", true},
		}},
		{"leading blank line is a field", " Bcc: x\r\nTo: y\r\n\r\n", []wantField{
			{"Bcc", " Bcc: x\r\n", " x", "x", true},
			{"To", "To: y\r\n", " y", "y", true},
		}},
		{"blank continuation", "A: 1\r\n \r\nB: 2\r\n\r\n", []wantField{
			{"A", "A: 1\r\n \r\n", " 1 ", "1 ", true}, // as a reader joins the lines
			{"B", "B: 2\r\n", " 2", "2", true},
		}},
		{"empty value", "A:\r\n\r\n", []wantField{{"A", "A:\r\n", "", "", true}}},
		{"colon only on a continuation line", "abc\r\n d: e\r\n\r\n", []wantField{{"", "abc\r\n d: e\r\n", "", "", false}}},
		{"empty header", "\r\nA: 1\r\n", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []wantField
			for f := range Fields([]byte(tc.msg)) {
				if !bytes.Equal(f.Raw, []byte(tc.msg[f.Start:f.Start+len(f.Raw)])) {
					t.Errorf("Raw %q is not msg[%d:]", f.Raw, f.Start)
				}
				got = append(got, wantField{string(f.Name), string(f.Raw), f.Unfolded(), f.Text(), f.Name != nil})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("fields %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("field %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestFieldIs(t *testing.T) {
	f := Field{Name: []byte("Message-ID")}
	for name, want := range map[string]bool{"message-id": true, "MESSAGE-ID": true, "Message-ID": true, "Message-I": false, "Message-IDs": false, "": false} {
		if f.Is(name) != want {
			t.Errorf("Is(%q) = %v", name, !want)
		}
	}
	if (Field{}).Is("") {
		t.Error("a line with no colon is named \"\"")
	}
}

func TestFieldsStop(t *testing.T) {
	n := 0
	for range Fields([]byte("A: 1\r\nB: 2\r\nC: 3\r\n\r\n")) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("%d fields after break at 2", n)
	}
}

// Whatever the bytes, the fields tile the header section exactly, in
// order, each a whole number of lines, and only the first may begin with
// a blank; Name and Value come from Raw.
func FuzzFields(f *testing.F) {
	for _, s := range []string{"Subject: hi\r\n\r\nbody", "A: 1\n b\nB:2", " lead\r\nX\r\n\r\n", "\r\n", "a:\n\n", "A: 1\r\n \r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := HeaderSection(msg)
		next := 0
		for fl := range Fields(msg) {
			if fl.Start != next || len(fl.Raw) == 0 || !bytes.Equal(fl.Raw, h[fl.Start:fl.Start+len(fl.Raw)]) {
				t.Fatalf("field at %d (%q) does not follow at %d", fl.Start, fl.Raw, next)
			}
			if fl.Start > 0 && (fl.Raw[0] == ' ' || fl.Raw[0] == '\t') {
				t.Fatalf("a field begins with a blank after the first: %q", fl.Raw)
			}
			if i := bytes.IndexByte(fl.Raw, '\n'); i >= 0 && i < len(fl.Raw)-1 {
				for _, l := range bytes.Split(bytes.TrimSuffix(fl.Raw[i+1:], []byte("\n")), []byte("\n")) {
					if len(l) == 0 || l[0] != ' ' && l[0] != '\t' {
						t.Fatalf("a field goes on with a line that does not continue it: %q", fl.Raw)
					}
				}
			}
			firstLine, _, _ := bytes.Cut(fl.Raw, []byte("\n"))
			if fl.Name != nil {
				colon := bytes.IndexByte(firstLine, ':')
				if string(fl.Name) != strings.Trim(string(fl.Raw[:colon]), " \t") || !bytes.Equal(fl.Value, fl.Raw[colon+1:]) {
					t.Fatalf("name %q value %q of %q", fl.Name, fl.Value, fl.Raw)
				}
				if strings.ContainsAny(fl.Unfolded(), "\n") || strings.ContainsAny(fl.Text(), "\n") {
					t.Fatalf("unfolded %q / text %q keep a line break", fl.Unfolded(), fl.Text())
				}
			} else if bytes.IndexByte(firstLine, ':') >= 0 {
				t.Fatalf("no name for %q", fl.Raw)
			}
			next = fl.Start + len(fl.Raw)
		}
		if next != len(h) {
			t.Fatalf("fields end at %d, the header section at %d", next, len(h))
		}
	})
}

// BenchmarkFields walks a header of a typical received message (about
// 30 fields, some folded) and reads two fields' values, as the MTA does
// for each message.
func BenchmarkFields(b *testing.B) {
	var h strings.Builder
	for i := range 8 {
		h.WriteString("Received: from relay" + strings.Repeat("x", i) + ".example.org (relay.example.org [192.0.2.1])\r\n\tby mx.example.com with ESMTPS id abc; Mon, 7 Dec 2026 01:00:00 +0000\r\n")
	}
	for i := range 20 {
		h.WriteString("X-Field-" + strings.Repeat("a", i) + ": some value of a field\r\n")
	}
	h.WriteString("From: Alice <alice@example.org>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody\r\n")
	msg := []byte(h.String())
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for f := range Fields(msg) {
			if f.Is("From") || f.Is("Subject") {
				n += len(f.Text())
			}
		}
		if n == 0 {
			b.Fatal("no field found")
		}
	}
}
