package mailio

import "bytes"

// toCRLF turns bare LF line ends into CRLF and leaves CRLF alone.
func toCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// toLF turns CRLF into LF when every line of b ends in CRLF, so toCRLF
// restores b exactly; otherwise it returns b unchanged.
func toLF(b []byte) []byte {
	if bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n")) ||
		bytes.Count(b, []byte("\r")) != bytes.Count(b, []byte("\r\n")) {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}
