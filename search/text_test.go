package search

import "testing"

// FieldValuesOf reads, in one pass, what FieldValues reads name by name.
func TestFieldValuesOf(t *testing.T) {
	names := []string{"from", "to", "cc", "subject"}
	for _, hdr := range []string{
		"From: Ann <ann@example.org>\r\nTo: bob@example.org, \"Cy\" <cy@example.org>\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\n",
		"to: a@x\r\nTO: b@x\r\nCc: undisclosed-recipients:;\r\nSubject: one\r\nSubject: two\r\n",
		"X-Other: from: no\r\n",
		"",
	} {
		got := make([]string, len(names))
		FieldValuesOf([]byte(hdr), names, got)
		for i, n := range names {
			if want := FieldValues([]byte(hdr), n); got[i] != want {
				t.Errorf("%q: %s is %q, FieldValues says %q", hdr, n, got[i], want)
			}
		}
	}
}
