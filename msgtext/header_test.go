package msgtext

import (
	"bytes"
	"testing"
)

func TestHeaderSection(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n"},
		{"Subject: x\n\nbody\n", "Subject: x\n"},
		{"\r\nbody", ""},
		{"Subject: x\r\n", "Subject: x\r\n"},
		{"Subject: x", "Subject: x"},
		{"A: 1\r\n \r\nB: 2\r\n\r\n", "A: 1\r\n \r\nB: 2\r\n"}, // a blank continuation is not the end
		{"", ""},
	} {
		if got := HeaderSection([]byte(tc.msg)); string(got) != tc.want {
			t.Errorf("HeaderSection(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestBodyStart(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{"Subject: x\r\n\r\nbody\r\n", 14},
		{"Subject: x\n\nbody\n", 12},
		{"\r\nbody", 2},
		{"\nbody", 1},
		{"Subject: x\r\n", 12},
		{"Subject: x", 10},
		{"A: 1\r\n \r\nB: 2\r\n\r\n", 17},
		{"", 0},
	} {
		if got := BodyStart([]byte(tc.msg)); got != tc.want {
			t.Errorf("BodyStart(%q) = %d, want %d", tc.msg, got, tc.want)
		}
	}
}

func TestCountReceived(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want int
	}{
		{"none", "Subject: x\r\n\r\nReceived: in the body\r\n", 0},
		{"two", "Received: a\r\nReceived: b\r\n\tcontinued\r\nSubject: x\r\n\r\n", 2},
		{"case and obsolete blank", "RECEIVED: a\r\nreceived : b\r\nReceived-SPF: pass\r\n\r\n", 2},
		{"bare LF", "Received: a\nReceived: b\n\nReceived: c\n", 2},
		{"no body", "Received: a", 1},
		{"empty header", "\r\nReceived: a\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountReceived([]byte(tc.msg)); got != tc.want {
				t.Errorf("CountReceived = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzHeaderSection: any bytes, no panic; the section is a prefix of the
// message that ends at a line end (or is all of it), and never holds more
// Received fields than lines.
func FuzzHeaderSection(f *testing.F) {
	f.Add([]byte("Received: a\r\nReceived: b\r\n\r\nbody"))
	f.Add([]byte("received :x\n\n"))
	f.Add([]byte(""))
	f.Add([]byte("\r\r\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := HeaderSection(msg)
		if !bytes.HasPrefix(msg, h) {
			t.Fatalf("%q is not a prefix of %q", h, msg)
		}
		if len(h) < len(msg) && len(h) > 0 && h[len(h)-1] != '\n' {
			t.Fatalf("section %q of %q does not end a line", h, msg)
		}
		if n, lines := CountReceived(msg), bytes.Count(h, []byte("\n"))+1; n > lines {
			t.Fatalf("%d Received in %d lines", n, lines)
		}
	})
}
