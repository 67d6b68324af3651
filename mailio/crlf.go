package mailio

import "bytes"

// toLF turns CRLF into LF when every line of b ends in CRLF, so msgtext.ToCRLF
// restores b exactly; otherwise it returns b unchanged.
func toLF(b []byte) []byte {
	if bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n")) ||
		bytes.Count(b, []byte("\r")) != bytes.Count(b, []byte("\r\n")) {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}
