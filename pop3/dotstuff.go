package pop3

import (
	"bufio"
	"bytes"
)

// dotWriter sends a message as the body of a multi-line reply (RFC 1939
// section 3): a line starting with "." gets another, line ends become
// CRLF, and Close ends the last line and adds ".CRLF". With a nil
// destination it only counts, which is how sizes are measured: what RETR
// reports is by construction what it sends.
//
// Its output is byte for byte that of net/textproto's DotWriter (FuzzDot
// holds it to that), which does the same one byte at a time; this one
// copies runs between line ends, so a 10 MiB message is not ten million
// calls. Like DotWriter it treats CR pairs as "CR, then data": in "a\r\r\n"
// the second CR does not pair with the LF, which gets its own CR.
type dotWriter struct {
	w     *bufio.Writer // nil: count only
	state int
	n     int64 // octets sent, not counting stuffed dots and ".CRLF"
}

const (
	dotBegin     = iota // nothing written yet
	dotBeginLine        // just after LF
	dotCR               // just after a CR that may pair with an LF
	dotData             // inside a line
)

func (d *dotWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if (d.state == dotBegin || d.state == dotBeginLine) && p[0] == '.' && d.w != nil {
			d.w.WriteByte('.')
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if len(seg) > 0 {
			d.state = afterRun(d.state, seg)
			d.n += int64(len(seg))
			if d.w != nil {
				if _, err := d.w.Write(seg); err != nil {
					return total - len(p), err
				}
			}
		}
		if i < 0 {
			break
		}
		if d.state == dotCR {
			d.put("\n")
		} else {
			d.put("\r\n")
		}
		d.state = dotBeginLine
		p = p[i+1:]
	}
	if d.w != nil {
		// bufio.Writer keeps the first error; report it where it arose.
		if _, err := d.w.Write(nil); err != nil {
			return total, err
		}
	}
	return total, nil
}

func (d *dotWriter) put(s string) {
	d.n += int64(len(s))
	if d.w != nil {
		d.w.WriteString(s)
	}
}

// afterRun is the state after seg, a non-empty run without LF. Only a
// trailing run of CRs can leave dotCR, and CRs in a row alternate between
// dotCR and dotData.
func afterRun(state int, seg []byte) int {
	k := 0
	for k < len(seg) && seg[len(seg)-1-k] == '\r' {
		k++
	}
	startCR := false
	if k == len(seg) {
		startCR = state == dotCR
	}
	if (k%2 == 1) != startCR {
		return dotCR
	}
	return dotData
}

// end finishes the last line. An empty message becomes one empty line, as
// with textproto.
func (d *dotWriter) end() {
	switch d.state {
	case dotBeginLine:
	case dotCR:
		d.put("\n")
	default:
		d.put("\r\n")
	}
	d.state = dotBeginLine
}

// Close ends the last line and writes the terminating ".CRLF".
func (d *dotWriter) Close() error {
	d.end()
	if d.w == nil {
		return nil
	}
	d.w.WriteString(".\r\n")
	return d.w.Flush()
}

// octets returns the size RETR reports for a message stored as parts.
func octets(parts ...[]byte) int64 {
	var d dotWriter
	for _, p := range parts {
		d.Write(p)
	}
	d.end()
	return d.n
}
