package mta

import (
	"bytes"
	"errors"
	"io"
)

// errBareLF is a line of DATA that ends in LF alone.
var errBareLF = errors.New("bare LF in DATA")

// dataFilter shapes DATA as it streams in, byte for byte as the client
// sent it (dot-unstuffed by conn.go), on its way to w:
//
//   - When a line of the header section is not a header field (nor the
//     continuation of one), the header has ended: the text from there on
//     is body, and an empty line is put before it, as Postfix's cleanup
//     does. A message typed by hand ("Do you like ketchup?") is thus a
//     message with an empty header and that body, not a header that mail
//     clients refuse ("incomplete header").
//
//   - A bare LF (an LF without the CR before it) ends the message with
//     errBareLF: SMTP lines end in CRLF (RFC 5321 2.3.8), and a server that
//     takes LF.LF for the end of data, or lets it through to one that
//     does, is open to SMTP smuggling. Nothing is guessed or repaired.
//
// A field is a name of printable ASCII other than ':' (RFC 5322 2.2),
// blanks allowed before the colon (obsolete syntax, 4.5). The line being
// judged is held back until its colon, so at most maxFieldName bytes.
type dataFilter struct {
	w      io.Writer
	prevCR bool // the last byte written was a CR
	state  int
	held   []byte // the current header line, until it is known to be a field
	field  bool   // a field has been seen: a blank line start continues it
	out    []byte // what one Write passes on from the header section
}

const (
	fLineStart = iota // at the start of a header line
	fName             // in what may be a field name
	fBlank            // in blanks after the name, before the colon
	fValue            // in a field's value, to the end of its line
	fCR               // a CR at the start of a line: the empty line if LF follows
	fBody             // past the header section: everything passes as it is
)

// maxFieldName bounds the held line: RFC 5322 lines are at most 998 bytes,
// so a "name" longer than that is no field.
const maxFieldName = 998

func newDataFilter(w io.Writer) *dataFilter {
	return &dataFilter{w: w, held: make([]byte, 0, 64)}
}

func isFieldNameByte(c byte) bool { return c > ' ' && c < 0x7f && c != ':' }

func (f *dataFilter) Write(p []byte) (int, error) {
	n := len(p)
	if bareLF(p, f.prevCR) {
		return 0, errBareLF
	}
	if n > 0 {
		f.prevCR = p[n-1] == '\r'
	}
	if f.state == fBody {
		_, err := f.w.Write(p)
		return n, err
	}
	f.out = f.out[:0]
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch f.state {
		case fLineStart:
			switch {
			case c == '\r':
				f.state = fCR
				f.held = append(f.held, c)
			case c == '\n':
				f.out = append(f.out, c)
				f.state = fBody
			case (c == ' ' || c == '\t') && f.field:
				f.out = append(f.out, c)
				f.state = fValue
			case isFieldNameByte(c):
				f.held = append(f.held, c)
				f.state = fName
			default:
				f.notField(c)
			}
		case fCR:
			if c == '\n' {
				f.out = append(append(f.out, f.held...), c)
				f.held = f.held[:0]
				f.state = fBody
			} else {
				f.notField(c)
			}
		case fName, fBlank:
			switch {
			case c == ':':
				f.out = append(append(f.out, f.held...), c)
				f.held = f.held[:0]
				f.field = true
				f.state = fValue
			case c == ' ' || c == '\t':
				f.held = append(f.held, c)
				f.state = fBlank
			case f.state == fName && isFieldNameByte(c) && len(f.held) < maxFieldName:
				f.held = append(f.held, c)
			default:
				f.notField(c)
			}
		case fValue:
			// The rest of the line passes at once.
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				f.out = append(f.out, p[i:]...)
				i = len(p)
				continue
			}
			f.out = append(f.out, p[i:i+j+1]...)
			i += j
			f.state = fLineStart
		case fBody:
			f.out = append(f.out, p[i:]...)
			i = len(p)
		}
	}
	if len(f.out) > 0 {
		if _, err := f.w.Write(f.out); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// notField ends the header section before the held line, which with c
// begins the body.
func (f *dataFilter) notField(c byte) {
	f.out = append(f.out, "\r\n"...)
	f.out = append(append(f.out, f.held...), c)
	f.held = f.held[:0]
	f.state = fBody
}

// Close passes on a last line still held: the data ended inside it, so it
// was no field.
func (f *dataFilter) Close() error {
	if len(f.held) == 0 {
		return nil
	}
	out := append([]byte("\r\n"), f.held...)
	f.held = f.held[:0]
	f.state = fBody
	_, err := f.w.Write(out)
	return err
}

// bareLF reports whether p has an LF that no CR comes right before;
// prevCR says whether the byte before p was one.
func bareLF(p []byte, prevCR bool) bool {
	for i := bytes.IndexByte(p, '\n'); i >= 0; {
		if i == 0 && !prevCR || i > 0 && p[i-1] != '\r' {
			return true
		}
		j := bytes.IndexByte(p[i+1:], '\n')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}
