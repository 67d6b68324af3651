package msgtext

import "bytes"

// MaxHops is the Received field count past which a message is taken to be
// looping: RFC 5321 section 6.3 asks for a limit of at least 100.
const MaxHops = 100

// HeaderSection returns the header of msg up to, and without, the empty
// line that ends it (CRLF or bare LF); all of msg when it has no body, and
// nothing when msg starts with the empty line.
func HeaderSection(msg []byte) []byte {
	pos := 0
	for pos < len(msg) {
		end := len(msg)
		if i := bytes.IndexByte(msg[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		if line := msg[pos:end]; line[len(line)-1] == '\n' && len(bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))) == 0 {
			return msg[:pos]
		}
		pos = end
	}
	return msg
}

// BodyStart is the offset of msg's body: just past the empty line that ends
// the header section; len(msg) when there is none.
func BodyStart(msg []byte) int {
	rest := msg[len(HeaderSection(msg)):]
	switch {
	case len(rest) > 0 && rest[0] == '\n':
		return len(msg) - len(rest) + 1
	case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
		return len(msg) - len(rest) + 2
	}
	return len(msg)
}

// CountReceived counts the Received fields of msg's header section (not
// their continuation lines, nor anything in the body), the obsolete form
// with blanks before the colon (RFC 5322 section 4.5) included.
func CountReceived(msg []byte) int {
	n := 0
	for f := range Fields(msg) {
		if f.Is("Received") {
			n++
		}
	}
	return n
}
