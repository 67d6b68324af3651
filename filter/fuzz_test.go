package filter

import (
	"bytes"
	"strings"
	"testing"

	milter "github.com/d--j/go-milter"
)

// FuzzParseReply: any reply a filter sends gives a code of its class, an
// enhanced status of the same class and a text without control
// characters other than the line breaks between lines.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"554 5.7.1 Gtube pattern", "550-5.7.1 a\r\n550 5.7.1 b", "451 4.7.1", "", "999 9.9.9 x", "550 5.7.1111 x", "4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, enh, text := ParseReply(s)
		if code < 400 || code > 599 || enh[0] != code/100 {
			t.Fatalf("%q: code %d enhanced %v", s, code, enh)
		}
		if text == "" || strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) {
			t.Fatalf("%q: text %q", s, text)
		}
	})
}

// FuzzHeaderEdits: a message split and written back is unchanged, and
// any edit a filter sends leaves a message whose header still parses
// into fields with the body intact.
func FuzzHeaderEdits(f *testing.F) {
	f.Add([]byte(testMsg), "X-Spam", "yes\n\tno", uint32(1), byte(0))
	f.Add([]byte("Subject: x\n\nbody"), "Subject", "", uint32(1), byte(2))
	f.Add([]byte("no header line\r\n\r\nbody"), "A", "b", uint32(9), byte(1))
	f.Fuzz(func(t *testing.T, msg []byte, name, value string, index uint32, kind byte) {
		h := parseHeader(msg)
		crlf := bytes.Count(msg, []byte("\n")) == bytes.Count(msg, []byte("\r\n"))
		if i := bytes.Index(msg, []byte("\r\n\r\n")); crlf && i >= 0 && len(h.body) == len(msg)-i-4 {
			if got := h.bytes(); !bytes.Equal(got, msg) {
				t.Fatalf("round trip:\n%q\n%q", msg, got)
			}
		}
		body := append([]byte(nil), h.body...)
		types := []milter.ModifyActionType{milter.ActionAddHeader, milter.ActionInsertHeader, milter.ActionChangeHeader}
		mod := milter.ModifyAction{Type: types[int(kind)%len(types)], HeaderName: name, HeaderValue: value, HeaderIndex: index % 64}
		out, _, _, err := apply(h, []milter.ModifyAction{mod}, &envelopeEdits{})
		if err != nil {
			return // a bad field name is refused
		}
		h2 := parseHeader(out)
		if !bytes.Equal(h2.body, body) {
			t.Fatalf("body changed: %q -> %q", body, h2.body)
		}
		for _, fl := range h2.fields {
			if strings.ContainsAny(fl.name, " \t\r\n:") {
				t.Fatalf("bad field %q", fl.raw)
			}
		}
	})
}
