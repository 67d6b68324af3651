package pop3

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"net/textproto"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCommand: the command parser never panics, and what it accepts is a
// three- or four-letter upper-case keyword with printable arguments.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"USER alice@example.org", "PASS two words", "retr 1", "TOP 1 10", "LIST", "", " ", "US\x00R", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "UIDL  2", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.Name) < 3 || len(cmd.Name) > 4 || strings.ToUpper(cmd.Name) != cmd.Name {
			t.Fatalf("keyword %q from %q", cmd.Name, line)
		}
		if !strings.EqualFold(line[:len(cmd.Name)], cmd.Name) {
			t.Fatalf("keyword %q is not the start of %q", cmd.Name, line)
		}
		for _, a := range cmd.Args {
			if a == "" || strings.ContainsAny(a, " \r\n\x00") {
				t.Fatalf("argument %q from %q", a, line)
			}
		}
		if n, ok := parseNumber(cmd.Rest); ok && n < 0 {
			t.Fatalf("negative number from %q", cmd.Rest)
		}
	})
}

// FuzzDot: dotWriter sends exactly what net/textproto's DotWriter sends,
// however the message is split into writes, and counts the octets a
// client gets back after un-stuffing.
func FuzzDot(f *testing.F) {
	for _, s := range []string{"", ".", "..\r\n", "a\r\r\nb", "a\nb\r\n.c\r", "\r", "\r\r", "\r\n.\r\n", "x\r\r\r\n.\n", "caf\xc3\xa9\xff"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, msg []byte, split uint8) {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		dw.Write(msg)
		dw.Close()

		var got bytes.Buffer
		bw := bufio.NewWriter(&got)
		d := &dotWriter{w: bw}
		step := int(split)%7 + 1
		for rest := msg; len(rest) > 0; {
			n := min(step, len(rest))
			d.Write(rest[:n])
			rest = rest[n:]
		}
		d.Close()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("dotWriter(%q) = %q, textproto = %q", msg, got.Bytes(), want.Bytes())
		}
		if n := octets(msg[:len(msg)/2], msg[len(msg)/2:]); n != int64(len(unstuff(t, got.Bytes()))) {
			t.Fatalf("octets(%q) = %d, client gets %d", msg, n, len(unstuff(t, got.Bytes())))
		}
	})
}

// unstuff undoes the dot-stuffing of a multi-line body, as a client does.
func unstuff(t *testing.T, b []byte) []byte {
	t.Helper()
	if !bytes.HasSuffix(b, []byte(".\r\n")) {
		t.Fatalf("%q lacks the terminator", b)
	}
	b = b[:len(b)-3]
	var out []byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("unterminated last line in %q", b)
		}
		line := b[:i+2]
		if line[0] == '.' {
			line = line[1:]
		}
		out = append(out, line...)
		b = b[i+2:]
	}
	return out
}

// FuzzPlain: the SASL PLAIN decoder never panics and returns only
// non-empty names and passwords without NUL.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00secret", "alice\x00alice\x00secret", "bob\x00alice\x00secret", "\x00\x00", "x"} {
		f.Add(base64.StdEncoding.EncodeToString([]byte(s)))
	}
	f.Add("=")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, resp string) {
		user, pass, err := decodePlain(resp)
		if err != nil {
			return
		}
		if user == "" || pass == "" || strings.ContainsRune(user, 0) || strings.ContainsRune(pass, 0) {
			t.Fatalf("decodePlain(%q) = %q, %q", resp, user, pass)
		}
	})
}

// FuzzTop: TOP's filter passes a prefix of the message made of whole
// lines (or all of it), and never more body lines than asked.
func FuzzTop(f *testing.F) {
	f.Add([]byte("H: a\r\n\r\nb1\r\nb2\r\n"), uint8(1), uint8(2))
	f.Add([]byte("H: a\n\nb1\nb2"), uint8(0), uint8(1))
	f.Add([]byte("no blank line\r\n"), uint8(5), uint8(3))
	f.Fuzz(func(t *testing.T, msg []byte, lines, split uint8) {
		var out bytes.Buffer
		tf := &topFilter{w: &out, body: int(lines)}
		step := int(split)%5 + 1
		for rest := msg; len(rest) > 0; {
			n := min(step, len(rest))
			tf.Write(rest[:n])
			rest = rest[n:]
		}
		got := out.Bytes()
		if !bytes.HasPrefix(msg, got) {
			t.Fatalf("TOP output %q is not a prefix of %q", got, msg)
		}
		if len(got) < len(msg) && (len(got) == 0 && len(msg) > 0 || got[len(got)-1] != '\n') {
			t.Fatalf("TOP output %q of %q does not end a line", got, msg)
		}
		if i := bytes.Index(got, []byte("\n\n")); i >= 0 && utf8.Valid(got) {
			if body := got[i+2:]; bytes.Count(body, []byte("\n")) > int(lines) {
				t.Fatalf("TOP %d passed %q", lines, body)
			}
		}
	})
}
