package msgauth

import (
	"strings"
)

// StripAuthResults removes from msg's header every Authentication-Results
// field whose authserv-id is authservID (compared without case), as RFC 8601
// section 5 requires of a border MTA: such a field did not come from us, and
// a mail reader trusting our id must not be fooled by it. Fields for other
// authserv-ids, and every other byte of the message, are kept as they were.
// When nothing is removed msg itself is returned.
func StripAuthResults(msg []byte, authservID string) []byte {
	id := normID(authservID)
	if id == "" {
		return msg
	}
	fields := scanHeader(msg)
	var drop []field
	for _, f := range fields {
		if f.is("Authentication-Results") && strings.EqualFold(strings.TrimRight(authservIDOf(f.value(msg)), "."), id) {
			drop = append(drop, f)
		}
	}
	if len(drop) == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg))
	pos := 0
	for _, f := range drop {
		out = append(out, msg[pos:f.start]...)
		pos = f.end
	}
	return append(out, msg[pos:]...)
}

// authservIDOf returns the authserv-id of an Authentication-Results field
// body (RFC 8601 section 2.2): the first value after optional comments and
// white space, a token or a quoted-string.
func authservIDOf(v string) string {
	i := skipCFWS(v, 0)
	if i >= len(v) {
		return ""
	}
	if v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[i])
			}
		}
		return "" // unterminated: not a valid id, so not ours
	}
	j := i
	for j < len(v) && !strings.ContainsRune(" \t;()\"", rune(v[j])) {
		j++
	}
	return v[i:j]
}

// skipCFWS returns the index of the first byte at or after i that is not
// white space or inside a (possibly nested) comment (RFC 5322 section 3.2.2).
func skipCFWS(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return i
		}
	}
	return i
}
