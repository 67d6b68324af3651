package mta

import (
	"slices"
	"strings"

	"petrel/msgtext"
)

// fieldValues returns the unfolded values of every header field of msg
// with that name (case-insensitive), trimmed, in order.
func fieldValues(msg []byte, name string) []string {
	var out []string
	for f := range msgtext.Fields(msg) {
		if f.Is(name) {
			out = append(out, strings.TrimSpace(f.Unfolded()))
		}
	}
	return out
}

// hasField reports whether the header of msg has a field named name.
func hasField(msg []byte, name string) bool {
	for f := range msgtext.Fields(msg) {
		if f.Is(name) {
			return true
		}
	}
	return false
}

// stripFields returns msg without the header fields of the given names
// (with their continuation lines); msg itself when it has none of them.
func stripFields(msg []byte, names ...string) []byte {
	var out []byte
	kept := 0 // msg[:kept] is in out (once something is dropped)
	for f := range msgtext.Fields(msg) {
		if !slices.ContainsFunc(names, f.Is) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(msg))
		}
		out = append(out, msg[kept:f.Start]...)
		kept = f.Start + len(f.Raw)
	}
	if out == nil {
		return msg
	}
	return append(out, msg[kept:]...)
}
