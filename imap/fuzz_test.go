package imap

import (
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

const fuzzSeedMsg = "From: a@b\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n folded\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--x--\r\n"

// FuzzHeaderFields: HEADER.FIELDS filtering never panics, always ends with
// the blank line, and never invents bytes.
func FuzzHeaderFields(f *testing.F) {
	f.Add([]byte("From: a\r\nTo: b\r\n c\r\nSubject: s\r\n\r\nbody"), "to")
	f.Add([]byte("no colon\n\tcont\nX: y"), "x")
	f.Add([]byte("\r\n"), "")
	f.Fuzz(func(t *testing.T, hdr []byte, name string) {
		for _, not := range []bool{false, true} {
			out := headerFields(hdr, []string{name, "Subject"}, not)
			if !bytes.HasSuffix(out, []byte("\r\n")) {
				t.Fatalf("no final CRLF: %q", out)
			}
			if len(out) > 3*len(hdr)+2 {
				t.Fatalf("output %d bytes from %d", len(out), len(hdr))
			}
		}
	})
}

// FuzzSections: any message, any part path: sections stay inside the
// message, BODY[] is the message, nothing panics, and BODY, BODYSTRUCTURE
// and ENVELOPE are written as before (bodystructure_test.go).
func FuzzSections(f *testing.F) {
	f.Add([]byte(fuzzSeedMsg), []byte{1, 2})
	f.Add([]byte(fuzzSeedMsg), []byte{2, 1, 1})
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts"), []byte{1})
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\n"), []byte{1, 1})
	f.Fuzz(func(t *testing.T, msg []byte, path []byte) {
		if len(path) > 8 {
			path = path[:8]
		}
		p := make([]int, len(path))
		for i, b := range path {
			p[i] = int(b % 5)
		}
		root := store.ParseStructure(msg)
		c := &store.Content{Body: msg}
		if got := bodySection(c, root, &imap.FetchItemBodySection{}); !bytes.Equal(got, msg) {
			t.Fatalf("BODY[] differs from the message")
		}
		for _, spec := range []imap.PartSpecifier{imap.PartSpecifierNone, imap.PartSpecifierHeader, imap.PartSpecifierText, imap.PartSpecifierMIME} {
			sec := &imap.FetchItemBodySection{Part: p, Specifier: spec, Partial: &imap.SectionPartial{Offset: 1, Size: 10}}
			if spec == imap.PartSpecifierMIME && len(p) == 0 {
				continue
			}
			if got := bodySection(c, root, sec); len(got) > 10 {
				t.Fatalf("partial <1.10> gave %d bytes", len(got))
			}
			sec.Partial = nil
			if got := bodySection(c, root, sec); len(got) > len(msg) {
				t.Fatalf("section larger than the message")
			}
		}
		binarySection(c, root, p)
		checkStructureWriters(t, root)
	})
}

// FuzzDecodeCTE: transfer decoding never panics or loops.
func FuzzDecodeCTE(f *testing.F) {
	f.Add([]byte("aGVs\r\nbG8="), "base64")
	f.Add([]byte("caf=C3=A9=\r\nsoft"), "quoted-printable")
	f.Add([]byte("=ZZ"), "quoted-printable")
	f.Fuzz(func(t *testing.T, raw []byte, enc string) {
		decodeCTE(raw, enc)
	})
}
