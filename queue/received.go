package queue

import (
	"bytes"
	"unicode/utf8"
)

// maxReceived is the loop limit: RFC 5321 section 6.3 asks for a limit of at
// least 100 Received headers.
const maxReceived = 100

// countReceived counts the Received header fields of msg's header (not its
// continuation lines, nor anything in the body).
func countReceived(msg []byte) int {
	n := 0
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header
		}
		if len(line) >= 9 && bytes.EqualFold(line[:9], []byte("received:")) {
			n++
		} else if len(line) > 8 && bytes.EqualFold(line[:8], []byte("received")) {
			// "Received :" with blanks before the colon (obsolete syntax, RFC 5322 section 4.5).
			if rest := bytes.TrimLeft(line[8:], " \t"); len(rest) > 0 && rest[0] == ':' {
				n++
			}
		}
	}
	return n
}

// headerNeedsUTF8 reports whether msg's header has UTF-8 beyond ASCII
// (RFC 6532), which a server should see only with SMTPUTF8.
func headerNeedsUTF8(msg []byte) bool {
	h := headerSection(msg)
	for _, c := range h {
		if c >= 0x80 {
			return utf8.Valid(h)
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
