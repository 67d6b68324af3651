package imap

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 5.1.3) for mailbox names: printable ASCII
// stands for itself ("&" as "&-"), anything else is UTF-16 in "&…-" with
// the base64 alphabet's "/" written ",".

var errUTF7 = errors.New("invalid modified UTF-7")

var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// utf7Decode decodes a modified UTF-7 name; raw UTF-8 outside "&…-" is
// accepted as itself (RFC 6855 and IMAP4rev2 clients send it).
func utf7Decode(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errUTF7
	}
	var b strings.Builder
	afterShift := false // the last thing decoded was a "&…-" run
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			afterShift = false
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errUTF7
		}
		run := s[i+1 : i+1+end]
		i += end + 1
		if run == "" {
			b.WriteByte('&')
			afterShift = false
			continue
		}
		if afterShift {
			return "", errUTF7 // two runs in a row must be one
		}
		raw, err := b64.DecodeString(run)
		if err != nil || len(raw)%2 != 0 || len(raw) == 0 {
			return "", errUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(units); k++ {
			u := units[k]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if k+1 >= len(units) {
					return "", errUTF7
				}
				r = utf16.DecodeRune(rune(u), rune(units[k+1]))
				k++
				if r == utf8.RuneError {
					return "", errUTF7
				}
			default:
				r = rune(u)
			}
			if r >= 0x20 && r < 0x7f {
				return "", errUTF7 // printable ASCII must stand for itself
			}
			b.WriteRune(r)
		}
		afterShift = true
	}
	return b.String(), nil
}

// utf7Encode encodes a UTF-8 name in modified UTF-7.
func utf7Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
			if c == '&' {
				b.WriteByte('-')
			}
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] < 0x20 || s[j] >= 0x7f) {
			j++
		}
		var units []uint16
		for _, r := range s[i:j] {
			units = utf16.AppendRune(units, r)
		}
		raw := make([]byte, 2*len(units))
		for k, u := range units {
			raw[2*k], raw[2*k+1] = byte(u>>8), byte(u)
		}
		b.WriteByte('&')
		b.WriteString(b64.EncodeToString(raw))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}
