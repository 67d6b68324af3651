package queue

import (
	"unicode/utf8"

	"petrel/msgtext"
)

// headerNeedsUTF8 reports whether msg's header has UTF-8 beyond ASCII
// (RFC 6532), which a server should see only with SMTPUTF8.
func headerNeedsUTF8(msg []byte) bool {
	h := msgtext.HeaderSection(msg)
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
