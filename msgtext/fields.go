package msgtext

import (
	"bytes"
	"iter"
	"strings"
)

// Field is one field of a message's header section, as Fields yields it.
// Its slices point into the message.
type Field struct {
	// Raw is the whole field as it stands in the message: name, colon,
	// value, continuation lines and line ends (CRLF or bare LF).
	Raw []byte
	// Start is the offset of Raw in the message.
	Start int
	// Name is what stands before the first colon of the first line,
	// without the blanks around it (RFC 5322 section 4.5.3 allows them
	// before the colon); nil when the first line has no colon: that is not
	// a field.
	Name []byte
	// Value is everything after the colon, as written: the folding and
	// the last line end kept.
	Value []byte
}

// Fields yields the fields of msg's header section (HeaderSection) in
// order. A field is a line and the lines after it that begin with a blank
// (RFC 5322 section 2.2.3); a first line that begins with a blank, having
// nothing to continue, is a field of its own. It accepts any bytes and
// never reads the body.
func Fields(msg []byte) iter.Seq[Field] {
	return func(yield func(Field) bool) {
		h := HeaderSection(msg)
		pos := 0
		for pos < len(h) {
			end := pos
			for {
				i := bytes.IndexByte(h[end:], '\n')
				if i < 0 {
					end = len(h)
					break
				}
				end += i + 1
				if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
					break
				}
			}
			f := Field{Raw: h[pos:end], Start: pos}
			first := f.Raw
			if i := bytes.IndexByte(first, '\n'); i >= 0 {
				first = first[:i]
			}
			if i := bytes.IndexByte(first, ':'); i >= 0 {
				f.Name, f.Value = bytes.Trim(first[:i], " \t"), f.Raw[i+1:]
				if f.Name == nil {
					f.Name = first[:0] // an empty name is still a field
				}
			}
			if !yield(f) {
				return
			}
			pos = end
		}
	}
}

// Is reports whether the field's name is name, ignoring ASCII case.
func (f Field) Is(name string) bool {
	if f.Name == nil || len(f.Name) != len(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		a, b := f.Name[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// Unfolded is the value with its line breaks removed (RFC 5322 section
// 2.2.3): the blanks that folded it, and those before and after it, stay.
func (f Field) Unfolded() string {
	v := f.Value
	if bytes.IndexByte(v, '\n') < 0 {
		return string(v)
	}
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	return string(bytes.ReplaceAll(v, []byte("\n"), nil))
}

// Text is the value as one line of text, as readers and searches see it:
// each line of it without the blanks around it, the lines joined by one
// space.
func (f Field) Text() string {
	v := f.Value
	if n := len(v); n > 0 && v[n-1] == '\n' {
		v = v[:n-1]
	}
	if bytes.IndexByte(v, '\n') < 0 {
		return string(bytes.TrimSpace(v))
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; ; i++ {
		line, rest, more := bytes.Cut(v, []byte("\n"))
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(bytes.TrimSpace(line))
		if !more {
			break
		}
		v = rest
	}
	return b.String()
}
