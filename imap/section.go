package imap

import (
	"bytes"
	"slices"

	"github.com/emersion/go-imap/v2"

	"petrel/msgtext"
	"petrel/store"
)

// Sections of a message (RFC 9051 6.4.5) are served from the byte offsets
// the store computed at delivery: only the bytes asked for are copied out
// of the store, so BODY[1]<0.512> of a message with a 20 MB attachment
// reads about 512 bytes.

// isMultipart and isMessage say how IMAP numbers a part's children.
func isMultipart(p *store.Part) bool { return p.Type == "multipart" && len(p.Parts) > 0 }

func isMessage(p *store.Part) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && len(p.Parts) == 1
}

// messageChildren are the parts numbered 1, 2… inside a message: the parts
// of a multipart body, or the body itself.
func messageChildren(msg *store.Part) []*store.Part {
	if isMultipart(msg) {
		return msg.Parts
	}
	return []*store.Part{msg}
}

// partChildren are the parts numbered below part p.
func partChildren(p *store.Part) []*store.Part {
	switch {
	case isMultipart(p):
		return p.Parts
	case isMessage(p):
		return messageChildren(p.Parts[0])
	}
	return nil
}

// findPart follows a part path ("1.2.3") from the message root; nil if there
// is no such part.
func findPart(root *store.Part, path []int) *store.Part {
	children := messageChildren(root)
	var p *store.Part
	for _, n := range path {
		if n < 1 || n > len(children) {
			return nil
		}
		p = children[n-1]
		children = partChildren(p)
	}
	return p
}

// byteRange is [start, end) of the message.
type byteRange struct{ start, end int64 }

// sectionRange finds the bytes of a body section, or reports that the
// section must be built (HEADER.FIELDS) from the range of a header.
// ok is false for a part that does not exist.
func sectionRange(root *store.Part, sec *imap.FetchItemBodySection) (r byteRange, filter bool, ok bool) {
	msg := root // the message whose HEADER/TEXT is meant
	if len(sec.Part) > 0 {
		p := findPart(root, sec.Part)
		if p == nil {
			return r, false, false
		}
		switch sec.Specifier {
		case imap.PartSpecifierNone:
			return byteRange{p.BodyStart, p.End}, false, true
		case imap.PartSpecifierMIME:
			if p == root {
				// Part 1 of a single-part message is its body; its MIME
				// header is the message header.
				return byteRange{root.HeaderStart, root.BodyStart}, false, true
			}
			return byteRange{p.HeaderStart, p.BodyStart}, false, true
		}
		if !isMessage(p) {
			return r, false, false
		}
		msg = p.Parts[0]
	}
	switch sec.Specifier {
	case imap.PartSpecifierNone:
		return byteRange{msg.HeaderStart, msg.End}, false, true
	case imap.PartSpecifierText:
		return byteRange{msg.BodyStart, msg.End}, false, true
	case imap.PartSpecifierHeader:
		filter = len(sec.HeaderFields) > 0 || len(sec.HeaderFieldsNot) > 0
		return byteRange{msg.HeaderStart, msg.BodyStart}, filter, true
	}
	return r, false, false
}

// bodySection copies out a BODY[…]<…> section. A missing part gives an
// empty string, as Dovecot and Cyrus answer.
func bodySection(c *store.Content, root *store.Part, sec *imap.FetchItemBodySection) []byte {
	r, filter, ok := sectionRange(root, sec)
	if !ok {
		return []byte{}
	}
	if filter {
		hdr := c.Slice(r.start, r.end-r.start)
		var b []byte
		if len(sec.HeaderFields) > 0 {
			b = headerFields(hdr, sec.HeaderFields, false)
		} else {
			b = headerFields(hdr, sec.HeaderFieldsNot, true)
		}
		return partial(b, sec.Partial)
	}
	off, n := r.start, r.end-r.start
	if p := sec.Partial; p != nil {
		if p.Offset >= n {
			return []byte{}
		}
		off += p.Offset
		n -= p.Offset
		if p.Size >= 0 && p.Size < n {
			n = p.Size
		}
	}
	return c.Slice(off, n)
}

func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return []byte{}
	}
	b = b[p.Offset:]
	if p.Size >= 0 && p.Size < int64(len(b)) {
		b = b[:p.Size]
	}
	return b
}

// headerFields keeps (or with not, drops) the fields of a header block
// whose names are in names, case-insensitively, in their original order
// and bytes, and ends the result with the blank line (RFC 9051 6.4.5).
func headerFields(hdr []byte, names []string, not bool) []byte {
	var out bytes.Buffer
	for f := range msgtext.Fields(hdr) {
		if slices.ContainsFunc(names, f.Is) == not {
			continue
		}
		for line := range bytes.Lines(f.Raw) {
			out.Write(bytes.TrimRight(line, "\r\n"))
			out.WriteString("\r\n")
		}
	}
	out.WriteString("\r\n")
	return out.Bytes()
}

// errUnknownCTE is RFC 3516's reply to BINARY of an encoding we cannot
// decode.
var errUnknownCTE = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnknownCTE, Text: "Unknown Content-Transfer-Encoding"}

// binarySection returns a part's body with its transfer encoding undone
// (RFC 3516). An empty path means the whole message, unchanged.
func binarySection(c *store.Content, root *store.Part, path []int) ([]byte, error) {
	if len(path) == 0 {
		return c.Slice(0, c.Size()), nil
	}
	p := findPart(root, path)
	if p == nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such part"}
	}
	raw := c.Slice(p.BodyStart, p.Size())
	if isMultipart(p) || isMessage(p) {
		return raw, nil
	}
	return decodeCTE(raw, p.Encoding)
}
