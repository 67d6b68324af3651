package mta

import (
	"bytes"
	"strings"

	"petrel/msgtext"
)

// fieldValues returns the unfolded values of every header field of msg
// with that name (case-insensitive), trimmed, in order.
func fieldValues(msg []byte, name string) []string {
	var out []string
	forFields(msgtext.HeaderSection(msg), func(field []byte) bool {
		k, v, ok := bytes.Cut(field, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
			v = bytes.ReplaceAll(v, []byte("\n"), nil)
			out = append(out, strings.TrimSpace(string(v)))
		}
		return true
	})
	return out
}

// stripFields returns msg without the header fields of the given names
// (with their continuation lines); msg itself when it has none of them.
func stripFields(msg []byte, names ...string) []byte {
	h := msgtext.HeaderSection(msg)
	drop := func(field []byte) bool {
		k, _, ok := bytes.Cut(field, []byte(":"))
		if !ok {
			return false
		}
		for _, n := range names {
			if strings.EqualFold(string(bytes.TrimSpace(k)), n) {
				return true
			}
		}
		return false
	}
	found := false
	forFields(h, func(field []byte) bool {
		found = drop(field)
		return !found
	})
	if !found {
		return msg
	}
	out := make([]byte, 0, len(msg))
	forFields(h, func(field []byte) bool {
		if !drop(field) {
			out = append(out, field...)
		}
		return true
	})
	return append(out, msg[len(h):]...)
}

// forFields calls fn with each field of the header block h, continuation
// lines included, until fn returns false.
func forFields(h []byte, fn func(field []byte) bool) {
	for len(h) > 0 {
		end := 0
		for {
			i := bytes.IndexByte(h[end:], '\n')
			if i < 0 {
				end = len(h)
				break
			}
			end += i + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		if !fn(h[:end]) {
			return
		}
		h = h[end:]
	}
}
