package msgtext

import "bytes"

// ToCRLF turns bare LF line ends into CRLF and leaves CRLF alone: the one
// normalisation of message text from a source that may use either (an
// mbox or Maildir file, a web form).
func ToCRLF(b []byte) []byte {
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
