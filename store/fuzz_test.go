package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseStructure: whatever the bytes, the MIME structure the store
// keeps (and IMAP serves sections from) is a tree of byte ranges inside the
// message: each part's header before its body, children inside their
// parent's body and in order, no deeper than maxPartDepth nor more than
// maxParts in all; it survives the JSON the store writes; and shifting it
// by a prefix moves every offset alike.
func FuzzParseStructure(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepilogue"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx"))
	f.Add([]byte("Content-Type: multipart/digest; boundary=\"a b\"\n\n--a b\n\nSubject: d\n\n--a b--\n"))
	f.Add([]byte("no header at all"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x--"))
	f.Add([]byte("Content-Type: text/plain; charset=\"\xff\"\r\nContent-Disposition: attachment; filename*=utf-8''%e2%82\r\nContent-Language: en, , fr\r\nFrom: =?x?q?\xff?= <a@b>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		root := ParseStructure(msg)
		if root.HeaderStart != 0 || root.End != int64(len(msg)) {
			t.Fatalf("root spans [%d, %d) of %d bytes", root.HeaderStart, root.End, len(msg))
		}
		if root.Envelope == nil {
			t.Fatal("no envelope on the top part")
		}
		parts := 0
		var walk func(p *Part, lo, hi int64, depth int)
		walk = func(p *Part, lo, hi int64, depth int) {
			parts++
			if depth > maxPartDepth {
				t.Fatalf("part at depth %d, limit %d", depth, maxPartDepth)
			}
			if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
				t.Fatalf("part [%d, %d, %d) outside [%d, %d)", p.HeaderStart, p.BodyStart, p.End, lo, hi)
			}
			if p.Type == "" || p.Subtype == "" || p.Type != strings.ToLower(p.Type) || p.Subtype != strings.ToLower(p.Subtype) {
				t.Fatalf("type %q/%q", p.Type, p.Subtype)
			}
			if p.Lines < 0 || p.Lines > p.Size()+1 {
				t.Fatalf("%d lines in %d bytes", p.Lines, p.Size())
			}
			prev := p.BodyStart
			for _, c := range p.Parts {
				if c.HeaderStart < prev {
					t.Fatalf("child at %d overlaps what ends at %d", c.HeaderStart, prev)
				}
				walk(c, p.BodyStart, p.End, depth+1)
				prev = c.End
			}
		}
		walk(root, 0, int64(len(msg)), 0)
		if parts > maxParts {
			t.Fatalf("%d parts, limit %d", parts, maxParts)
		}
		b, err := json.Marshal(root)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Part
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if back.End != root.End || len(back.Parts) != len(root.Parts) {
			t.Fatalf("JSON round trip changed the tree")
		}
		const d = 17
		shifted := root.shift(d, true)
		bin, err := decodeStructure(encodeStructure(root), d)
		if err != nil {
			t.Fatalf("binary round trip: %v", err)
		}
		if g, w := jsonOf(t, bin), jsonOf(t, shifted); g != w {
			t.Fatalf("binary round trip changed the tree:\n got %s\nwant %s", g, w)
		}
		var same func(a, b *Part, top bool)
		same = func(a, b *Part, top bool) {
			hs := int64(d)
			if top {
				hs = 0
			}
			if b.HeaderStart != a.HeaderStart+hs || b.BodyStart != a.BodyStart+d || b.End != a.End+d || len(a.Parts) != len(b.Parts) {
				t.Fatalf("shift moved [%d %d %d] to [%d %d %d]", a.HeaderStart, a.BodyStart, a.End, b.HeaderStart, b.BodyStart, b.End)
			}
			for i := range a.Parts {
				same(a.Parts[i], b.Parts[i], false)
			}
		}
		same(root, shifted, true)
		if !reflect.DeepEqual(root, ParseStructure(msg)) {
			t.Fatal("two parses of the same bytes differ")
		}
	})
}

// FuzzDecodeStructure: the stored structure is read back from disk, which
// may be damaged: any bytes give a tree or errStructure, never a panic or
// a huge allocation, and a tree decoded encodes to the same bytes. The
// envelope alone (decodeEnvelope, FETCH ENVELOPE's) is the tree's.
func FuzzDecodeStructure(f *testing.F) {
	for _, m := range codecMessages {
		f.Add(encodeStructure(ParseStructure([]byte(m))))
	}
	f.Add([]byte{structV1})
	f.Add([]byte(`{"hs":0,"bs":2,"e":3,"t":"text","st":"plain"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, binary, envErr := decodeEnvelope(b)
		if envErr != nil && !errors.Is(envErr, errStructure) {
			t.Fatalf("envelope error %v is not errStructure", envErr)
		}
		if binary != (len(b) > 0 && b[0] == structV1) {
			t.Fatalf("decodeEnvelope took %q for the binary form: %v", b[:min(len(b), 1)], binary)
		}
		p, err := decodeStructure(b, 0)
		if err == nil && binary {
			if envErr != nil {
				t.Fatalf("the tree decodes, its envelope not: %v", envErr)
			}
			if jsonOf(t, &Part{Envelope: env}) != jsonOf(t, &Part{Envelope: p.Envelope}) {
				t.Fatalf("envelope %s, the tree's %s", jsonOf(t, &Part{Envelope: env}), jsonOf(t, &Part{Envelope: p.Envelope}))
			}
		}
		if err != nil {
			if len(b) > 0 && b[0] != '{' && !errors.Is(err, errStructure) {
				t.Fatalf("error %v is not errStructure", err)
			}
			return
		}
		if b[0] != structV1 {
			return // JSON
		}
		if again := encodeStructure(p); !bytes.Equal(again, b) && jsonOf(t, mustDecode(t, again)) != jsonOf(t, p) {
			t.Fatalf("re-encoding changed the tree")
		}
	})
}

func mustDecode(t *testing.T, b []byte) *Part {
	t.Helper()
	p, err := decodeStructure(b, 0)
	if err != nil {
		t.Fatalf("decode of an encoding: %v", err)
	}
	return p
}

// FuzzNormalizeAddress: an address accepted is lower case, has one '@'
// with something on each side, nothing that would break an SMTP path or a
// header, and normalizes to itself.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"Bob@Example.COM", " bob@example.com. ", "a@b@c", "<a@b>", "\"a b\"@c", "a@", "@b", "a@b..", "a\x00@b", "ä@b.de", "a@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := NormalizeAddress(in)
		if err != nil {
			return
		}
		if a != strings.ToLower(a) {
			t.Fatalf("%q -> %q: not lower case", in, a)
		}
		at := strings.IndexByte(a, '@')
		if at <= 0 || at == len(a)-1 || strings.Count(a, "@") != 1 {
			t.Fatalf("%q -> %q: not local@domain", in, a)
		}
		if strings.ContainsAny(a, " <>()\"\r\n\t,;\x00") {
			t.Fatalf("%q -> %q: a character that breaks a path or header", in, a)
		}
		if again, err := NormalizeAddress(a); err != nil || again != a {
			t.Fatalf("%q -> %q -> %q, %v: not idempotent", in, a, again, err)
		}
	})
}
