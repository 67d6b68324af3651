package msgauth

import (
	"bytes"
	"strings"
)

// field is one header field of a message: msg[start:end] is the whole
// field, continuation lines and line endings included, so removing it leaves
// every other byte as it was.
type field struct {
	start, end int
	colon      int // index of ':' in msg, or -1 for a line without one
	name       string
}

// maxFieldNameLen bounds the field names we look at; a longer "name" is not
// one of the fields this package cares about.
const maxFieldNameLen = 64

// scanHeader splits the header section of msg into fields. It accepts CRLF
// or bare LF, a header without a body, and malformed lines (kept as fields
// with no name); it never fails. bodyStart is the index of the blank line
// that ends the header, or len(msg).
func scanHeader(msg []byte) (fields []field, bodyStart int) {
	pos := 0
	for pos < len(msg) {
		end := len(msg)
		if i := bytes.IndexByte(msg[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := msg[pos:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (len(line) == 0 || line[len(line)-1] == '\n') {
			return fields, pos
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].end = end
		} else {
			f := field{start: pos, end: end, colon: -1}
			if i := bytes.IndexByte(line, ':'); i >= 0 {
				f.colon = pos + i
				if i <= maxFieldNameLen {
					f.name = string(bytes.TrimRight(line[:i], " \t"))
				}
			}
			fields = append(fields, f)
		}
		pos = end
	}
	return fields, len(msg)
}

// is reports whether the field's name is name, ignoring case.
func (f field) is(name string) bool {
	return strings.EqualFold(f.name, name)
}

// value returns the field body, unfolded (line breaks removed).
func (f field) value(msg []byte) string {
	if f.colon < 0 {
		return ""
	}
	v := msg[f.colon+1 : f.end]
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return string(v)
}
