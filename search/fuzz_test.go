package search

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseHeader: the search-side header parser never panics.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("Subject: =?iso-8859-1?q?R=E9sum=E9?=\r\nFrom: x\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\nA:\r\n"))
	f.Add([]byte("Subject: =?bogus?b?!!!?=\n"))
	f.Add([]byte(" Subject: leading fold\r\nsubject : two\r\n\tthree\r\nX: y\r\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		for _, fl := range ParseHeader(hdr) {
			if fl.Value != strings.ToLower(fl.Value) {
				t.Fatalf("value not lower-cased: %q", fl.Value)
			}
		}
		// EachField, which SEARCH uses for a named field, finds the same
		// values as SplitHeader for every name there is.
		fields := SplitHeader(hdr)
		for _, name := range append([]string{"Subject"}, func() []string {
			var n []string
			for _, f := range fields {
				n = append(n, f.Name)
			}
			return n
		}()...) {
			if name == "" {
				continue
			}
			var want, got []string
			for _, f := range fields {
				if strings.EqualFold(f.Name, name) {
					want = append(want, f.Value)
				}
			}
			EachField(hdr, name, func(v string) {
				got = append(got, v)
			})
			if !slices.Equal(got, want) {
				t.Fatalf("field %q: EachField %q, SplitHeader %q", name, got, want)
			}
		}
	})
}
