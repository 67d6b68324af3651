package mta

import (
	"bytes"
	"testing"
)

func TestDataFilter(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"typed by hand", "Do you like ketchup?\r\nHow about pickles?\r\n", "\r\nDo you like ketchup?\r\nHow about pickles?\r\n"},
		{"a message", "Subject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n\r\nbody\r\n"},
		{"no body", "Subject: hi\r\nFrom: a@b\r\n", "Subject: hi\r\nFrom: a@b\r\n"},
		{"folded", "Subject: hi\r\n there\r\n\r\nx\r\n", "Subject: hi\r\n there\r\n\r\nx\r\n"},
		{"obsolete blank before colon", "Subject : hi\r\n\r\nx\r\n", "Subject : hi\r\n\r\nx\r\n"},
		{"field then text", "Subject: hi\r\nhello there\r\n", "Subject: hi\r\n\r\nhello there\r\n"},
		{"a colon after a blank word", "Hello world: hi\r\n", "\r\nHello world: hi\r\n"},
		{"starts folded", " x: y\r\n", "\r\n x: y\r\n"},
		{"empty header", "\r\nbody\r\n", "\r\nbody\r\n"},
		{"mbox From line", "From alice@crepes.fr Mon Jan  1 00:00:00 2026\r\n", "\r\nFrom alice@crepes.fr Mon Jan  1 00:00:00 2026\r\n"},
		{"8-bit name", "Sübject: x\r\n", "\r\nSübject: x\r\n"},
		{"empty name", ": x\r\n", "\r\n: x\r\n"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and a byte at a time.
			for _, step := range []int{len(tc.in) + 1, 1} {
				var out bytes.Buffer
				f := newDataFilter(&out)
				for in := []byte(tc.in); len(in) > 0; {
					k := min(step, len(in))
					f.Write(in[:k])
					in = in[k:]
				}
				f.Close()
				if out.String() != tc.want {
					t.Errorf("step %d: %q -> %q, want %q", step, tc.in, out.String(), tc.want)
				}
			}
		})
	}
}
