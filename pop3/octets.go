package pop3

// octetCounter counts the octets RETR sends for a message before
// dot-stuffing and without the final ".CRLF" line: the size RFC 1939
// requires in STAT, LIST and the RETR reply. It mirrors the state machine
// of net/textproto's DotWriter, which does the sending (a bare LF becomes
// CRLF, a missing last line end is added, an empty message is one empty
// line), and FuzzOctets holds the two together.
type octetCounter struct {
	state int
	n     int64
}

const (
	ocBegin     = iota // nothing written yet
	ocBeginLine        // just after LF
	ocCR               // just after CR
	ocData             // inside a line
)

func (o *octetCounter) Write(p []byte) (int, error) {
	n := int64(len(p))
	for _, c := range p {
		if o.state == ocCR {
			o.state = ocData
			if c == '\n' {
				o.state = ocBeginLine
			}
			continue
		}
		switch c {
		case '\r':
			o.state = ocCR
		case '\n':
			n++ // DotWriter writes CR before an LF not preceded by CR
			o.state = ocBeginLine
		default:
			o.state = ocData
		}
	}
	o.n += n
	return len(p), nil
}

// Total is the count once the whole message has been written.
func (o *octetCounter) Total() int64 {
	switch o.state {
	case ocBeginLine:
		return o.n
	case ocCR:
		return o.n + 1 // LF
	default:
		return o.n + 2 // CRLF
	}
}

// octets returns the size RETR reports for a message stored as parts.
func octets(parts ...[]byte) int64 {
	var o octetCounter
	for _, p := range parts {
		o.Write(p)
	}
	return o.Total()
}
