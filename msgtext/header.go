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

// CountReceived counts the Received fields of msg's header section (not
// their continuation lines, nor anything in the body), the obsolete form
// with blanks before the colon (RFC 5322 section 4.5) included.
func CountReceived(msg []byte) int {
	h := HeaderSection(msg)
	n := 0
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		if len(line) < 9 || !bytes.EqualFold(line[:8], []byte("received")) {
			continue
		}
		if rest := bytes.TrimLeft(line[8:], " \t"); len(rest) > 0 && rest[0] == ':' {
			n++
		}
	}
	return n
}
