package imap

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// wordOracle is word as it was, one octet at a time: FuzzWord checks the
// run-at-a-time word against it.
func (p *parser) wordOracle(ok func(byte) bool, what string) (string, error) {
	var b []byte
	for {
		c, err := p.peek()
		if err != nil {
			return "", err
		}
		if !ok(c) {
			break
		}
		p.next()
		b = append(b, c)
		if p.n >= maxCommandSize {
			return "", errTooLong
		}
	}
	if len(b) == 0 {
		c, _ := p.peek()
		if c == '\r' || c == '\n' {
			return "", badSyntax("Missing %s", what)
		}
		return "", badSyntax("Expected %s", what)
	}
	return string(b), nil
}

// FuzzWord: word reads the same words, leaves the reader at the same
// place, counts the same octets and fails the same way as reading one octet
// at a time, whatever the buffer size, the reader's chunking and how close
// the command is to maxCommandSize.
func FuzzWord(f *testing.F) {
	f.Add([]byte("a1 FETCH 1:* (UID FLAGS)\r\n"), uint8(16), uint16(0), false)
	f.Add([]byte("tag\r\n"), uint8(16), uint16(3), true)
	f.Add(bytes.Repeat([]byte("x"), 100), uint8(16), uint16(40), false)
	f.Add([]byte(" leading"), uint8(20), uint16(0), true)
	f.Add([]byte("\r\n"), uint8(16), uint16(0), false)
	f.Fuzz(func(t *testing.T, in []byte, size uint8, room uint16, oneByte bool) {
		start := maxCommandSize - int(room) // octets of the command read before
		if room == 0 {
			start = 0
		}
		read := func(word func(*parser) (string, error)) (words []string, errs []string, n int, rest []byte) {
			var r = bytes.NewReader(in)
			var src = iotestReader(r, oneByte)
			br := bufio.NewReaderSize(src, 16+int(size))
			p := &parser{br: br, n: start}
			for range 50 {
				w, err := word(p)
				words = append(words, w)
				if err != nil {
					var se *syntaxError
					switch {
					case errors.As(err, &se):
						errs = append(errs, se.msg)
						if _, err := p.next(); err != nil { // step over what stopped it
							errs = append(errs, err.Error())
							return words, errs, p.n, nil
						}
						continue
					default:
						errs = append(errs, err.Error())
					}
					break
				}
			}
			rest, _ = br.Peek(br.Buffered())
			return words, errs, p.n, append([]byte(nil), rest...)
		}
		gw, ge, gn, _ := read(func(p *parser) (string, error) { return p.word(isAtomChar, "atom") })
		ww, we, wn, _ := read(func(p *parser) (string, error) { return p.wordOracle(isAtomChar, "atom") })
		if len(gw) != len(ww) || len(ge) != len(we) || gn != wn {
			t.Fatalf("words %q errors %q n %d; one at a time: %q %q %d", gw, ge, gn, ww, we, wn)
		}
		for i := range gw {
			if gw[i] != ww[i] {
				t.Fatalf("word %d: %q, one at a time %q", i, gw[i], ww[i])
			}
		}
		for i := range ge {
			if ge[i] != we[i] {
				t.Fatalf("error %d: %q, one at a time %q", i, ge[i], we[i])
			}
		}
	})
}

func iotestReader(r *bytes.Reader, oneByte bool) interface{ Read([]byte) (int, error) } {
	if oneByte {
		return iotest.OneByteReader(r)
	}
	return r
}
