package mta

import (
	"bufio"
	"bytes"
	"io"

	"github.com/emersion/go-smtp"
)

// lineLimitReader fails (smtp.ErrTooLongLine, for good) once a line of the
// stream is longer than limit bytes; limit 0 turns the check off (BDAT
// chunks are not lines). It sits under the connection's bufio.Reader, so
// that no more than a line and a buffer of a flood is ever read.
type lineLimitReader struct {
	r     io.Reader
	limit int
	cur   int // length of the line being read
	err   error
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if l.limit == 0 {
		l.cur = 0
		return n, err
	}
	for _, c := range p[:n] {
		if c == '\n' {
			l.cur = 0
			continue
		}
		if l.cur++; l.cur > l.limit {
			l.err = smtp.ErrTooLongLine
			return 0, l.err
		}
	}
	return n, err
}

// dotReader reads the data of DATA (RFC 5321 4.5.2): it removes the dot
// that stuffs a line beginning with one, and ends (io.EOF) at the line
// holding a lone dot, CRLF.CRLF, which it does not return. Line endings
// are passed on as they come (a bare LF is dataFilter's to refuse); only
// CRLF counts as the end of a line for the dot, so that "\n.\n" never ends
// the data (SMTP smuggling). A connection that ends before the final dot
// is io.ErrUnexpectedEOF.
type dotReader struct {
	r     *bufio.Reader
	state int
}

const (
	dotBeginLine = iota // at the start of a line
	dotDot              // read '.' at the start of a line
	dotDotCR            // read ".\r" at the start of a line
	dotCR               // read '\r'
	dotData             // in a line
	dotEOF              // read the final ".\r\n"
)

func (d *dotReader) Read(p []byte) (n int, err error) {
	for n < len(p) && d.state != dotEOF {
		if d.state == dotData {
			// Inside a line only CR matters: the bytes before one that
			// are buffered already go in one copy.
			if buf, _ := d.r.Peek(min(d.r.Buffered(), len(p)-n)); len(buf) > 0 {
				i := bytes.IndexByte(buf, '\r')
				if i < 0 {
					i = len(buf)
				}
				if i > 0 {
					n += copy(p[n:], buf[:i])
					d.r.Discard(i)
					continue
				}
			}
		}
		var c byte
		c, err = d.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		switch d.state {
		case dotBeginLine:
			switch c {
			case '.':
				d.state = dotDot
				continue
			case '\r':
				d.state = dotCR
			default:
				d.state = dotData
			}
		case dotDot:
			if c == '\r' {
				d.state = dotDotCR
				continue
			}
			d.state = dotData // ".\n" too: a bare LF, passed on
		case dotDotCR:
			if c == '\n' {
				d.state = dotEOF
				continue
			}
			// ".\r" then something else: the dot was stuffing; the CR is data.
			p[n] = '\r'
			n++
			if n == len(p) {
				d.r.UnreadByte()
				d.state = dotData
				return n, nil
			}
			d.state = dotData
			if c == '\r' {
				d.state = dotCR
			}
		case dotCR:
			if c == '\n' {
				d.state = dotBeginLine
			} else if c != '\r' {
				d.state = dotData
			}
		case dotData:
			if c == '\r' {
				d.state = dotCR
			}
		}
		p[n] = c
		n++
	}
	if d.state == dotEOF {
		return n, io.EOF
	}
	return n, nil
}
