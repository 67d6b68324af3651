package msgauth

import (
	"bytes"
	"petrel/msgtext"
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

// scanHeader splits the header section of msg into fields
// (msgtext.Fields): CRLF or bare LF, a header without a body, and malformed
// lines (kept as fields with no name) are accepted; it never fails.
func scanHeader(msg []byte) []field {
	var fields []field
	for f := range msgtext.Fields(msg) {
		fl := field{start: f.Start, end: f.Start + len(f.Raw), colon: -1}
		if f.Name != nil {
			fl.colon = fl.end - len(f.Value) - 1
			if len(f.Name) <= maxFieldNameLen {
				fl.name = string(f.Name)
			}
		}
		fields = append(fields, fl)
	}
	return fields
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
