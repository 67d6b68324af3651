package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// burst is what a peer sent at once: Plain, deflated and flushed.
type burst struct {
	Plain    []byte `json:"plain"`
	Deflated []byte `json:"deflated"`
}

// loadVectors reads testdata/partial-flush-N.json: the commands of an IMAP
// session as Python's zlib sends them with Z_PARTIAL_FLUSH after each (see
// testdata/gen.py).
func loadVectors(t testing.TB) map[string][]burst {
	t.Helper()
	files, err := filepath.Glob("testdata/partial-flush-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	all := map[string][]burst{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v []burst
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all[filepath.Base(f)] = v
	}
	return all
}

// errWouldBlock: the decoder asked for input the peer has not sent; on a
// connection that read would wait.
var errWouldBlock = errors.New("asked for input the peer has not sent: would block")

// gate is a connection's input as the peer has sent it so far.
type gate struct {
	b   []byte
	hit bool // a read went past b
}

func (g *gate) Read(p []byte) (int, error) {
	if len(g.b) == 0 {
		g.hit = true
		return 0, errWouldBlock
	}
	n := copy(p, g.b)
	g.b = g.b[n:]
	return n, nil
}

// readBursts feeds bursts one at a time and checks that each one's octets
// come out before the decoder asks for input past it.
func readBursts(t *testing.T, r io.Reader, g *gate, bs []burst) {
	t.Helper()
	buf := make([]byte, 1000)
	for i, b := range bs {
		g.b = append(g.b, b.Deflated...)
		var got []byte
		for len(got) < len(b.Plain) {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if g.hit {
				t.Fatalf("burst %d: %d of %d octets returned, then %v", i, len(got), len(b.Plain), errWouldBlock)
			}
			if err != nil {
				t.Fatalf("burst %d: %v", i, err)
			}
		}
		if !bytes.Equal(got, b.Plain) {
			t.Fatalf("burst %d: got %q, want %q", i, got, b.Plain)
		}
	}
}

// TestPartialFlush: what zlib flushed with Z_PARTIAL_FLUSH (as mbsync does
// after every command) comes out without reading further, at zlib's
// levels 1 (fixed blocks), 6 and 9 (dynamic ones). Go's compress/flate
// and klauspost's partial-block reader both fail this.
func TestPartialFlush(t *testing.T) {
	for name, bs := range loadVectors(t) {
		t.Run(name, func(t *testing.T) {
			g := &gate{}
			readBursts(t, New(g, 64), g, bs)
		})
	}
	t.Run("compress/flate waits", func(t *testing.T) {
		bs := loadVectors(t)["partial-flush-6.json"]
		g := &gate{b: bs[0].Deflated}
		io.ReadFull(flate.NewReader(g), make([]byte, len(bs[0].Plain)))
		if !g.hit {
			t.Fatal("compress/flate returned a partial flush without reading past it: it could replace this package")
		}
	})
}

// deflated compresses each of parts with compress/flate at level, with a
// sync flush after each; last closes the stream after the last part.
func deflated(t testing.TB, level int, last bool, parts ...[]byte) []burst {
	t.Helper()
	var out bytes.Buffer
	zw, err := flate.NewWriter(&out, level)
	if err != nil {
		t.Fatal(err)
	}
	var bs []burst
	for i, p := range parts {
		zw.Write(p)
		if last && i == len(parts)-1 {
			zw.Close()
		} else {
			zw.Flush()
		}
		bs = append(bs, burst{Plain: p, Deflated: bytes.Clone(out.Bytes())})
		out.Reset()
	}
	return bs
}

// TestSyncFlush: compress/flate's sync-flushed bursts, over every kind of
// block (stored, fixed, dynamic, Huffman-only), long matches reaching into
// earlier bursts, a burst larger than the window, and the stream's end.
func TestSyncFlush(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := bytes.Repeat([]byte("a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject)])\r\n"), 1000)
	noise := make([]byte, 70000)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		bs := deflated(t, level, true, []byte("b NOOP\r\n"), text, noise, text[:100], noise[:5], []byte{}, []byte("c LOGOUT\r\n"))
		g := &gate{}
		r := New(g, 16)
		readBursts(t, r, g, bs)
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("level %d: after the final block: %d, %v; want 0, EOF", level, n, err)
		}
	}
}

// TestCorrupt: malformed streams are errors wrapping ErrCorrupt, and the
// error stays.
func TestCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"reserved block type", []byte{0x07}},
		{"stored length complement", []byte{0x01, 0x05, 0x00, 0x00, 0x00}},
		{"distance before start", []byte{0x03, 0x02, 0x00, 0x00}}, // fixed: length 3, distance 1 with nothing before
		{"too many literal codes", []byte{0xfd, 0xff, 0xff, 0xff}},
		{"incomplete code length code", []byte{0x05, 0xe0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(bytes.NewReader(tc.in), 16)
			_, err := io.ReadAll(r)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if _, again := r.Read(make([]byte, 1)); again != err {
				t.Errorf("second read: %v, want the same error", again)
			}
			if _, ferr := io.ReadAll(flate.NewReader(bytes.NewReader(tc.in))); ferr == nil {
				t.Errorf("compress/flate takes it")
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		bs := deflated(t, 6, true, []byte("hello, hello, hello"))
		_, err := io.ReadAll(New(bytes.NewReader(bs[0].Deflated[:3]), 16))
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("got %v, want ErrUnexpectedEOF", err)
		}
	})
}

// FuzzInflate is differential against compress/flate: any stream its
// writer makes, cut into sync-flushed bursts at arbitrary points, decodes
// to what was written, each burst before the decoder reads past it; and
// arbitrary bytes decode as compress/flate decodes them (the same octets,
// or an error for both).
func FuzzInflate(f *testing.F) {
	f.Add([]byte("a LOGIN user secret\r\nb SELECT INBOX\r\n"), []byte{3, 9, 200}, uint8(6))
	f.Add(bytes.Repeat([]byte("xyz"), 3000), []byte{0, 255, 1}, uint8(1))
	for _, bs := range loadVectors(f) {
		for _, b := range bs {
			f.Add(b.Deflated, []byte{}, uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte, level uint8) {
		var parts [][]byte
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, int(cuts[i])*17+1)
			}
			parts = append(parts, rest[:n])
			rest = rest[n:]
		}
		g := &gate{}
		readBursts(t, New(g, 16+int(level)), g, deflated(t, int(level%11)-2, false, parts...))

		// The whole stream delivered in arbitrary pieces (as TCP segments
		// fall) decodes to the same octets.
		var stream []byte
		for _, b := range deflated(t, int(level%11)-2, true, parts...) {
			stream = append(stream, b.Deflated...)
		}
		got, err := io.ReadAll(New(&pieces{b: stream, sizes: cuts}, 16))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("in pieces: %d octets, %v; want %d", len(got), err, len(data))
		}

		// The same bytes as compressed input.
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), 1<<22))
		var gerr error
		got, gerr = io.ReadAll(io.LimitReader(New(bytes.NewReader(data), 64), 1<<22))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("compress/flate: %v, inflate: %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %d octets, compress/flate %d", len(got), len(want))
		}
	})
}

// pieces returns b in reads of the sizes given (cycled; 0 counts as 1).
type pieces struct {
	b     []byte
	sizes []byte
	i     int
}

func (p *pieces) Read(q []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(p.sizes) > 0 {
		n = max(1, int(p.sizes[p.i%len(p.sizes)]))
		p.i++
	}
	n = copy(q, p.b[:min(n, len(p.b))])
	p.b = p.b[n:]
	return n, nil
}

// TestMidBlock: inside a block that has not ended (the peer has not
// flushed, or its segment was cut), what can be decoded is returned before
// the decoder asks for input that has not come. compress/flate's reader
// reads on first.
func TestMidBlock(t *testing.T) {
	text := bytes.Repeat([]byte("a UID FETCH 1:* (FLAGS)\r\nb NOOP\r\n"), 200)
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.DefaultCompression)
	zw.Write(text)
	zw.Close()
	half := z.Bytes()[:z.Len()/2]
	g := &gate{b: bytes.Clone(half)}
	buf := make([]byte, len(text))
	n, err := New(g, 16).Read(buf)
	if err != nil || n == 0 || g.hit {
		t.Fatalf("first read: %d octets, %v, read past the input: %v; want octets, before reading past", n, err, g.hit)
	}
	if !bytes.Equal(buf[:n], text[:n]) {
		t.Fatalf("decoded %q, want a prefix of the text", buf[:n])
	}
	g = &gate{b: bytes.Clone(half)}
	flate.NewReader(g).Read(buf)
	if !g.hit {
		t.Fatal("compress/flate returned mid-block data without reading past it")
	}
}

// BenchmarkInflate decodes 1 MiB of mail-like text (random words and
// tokens, about 2.5:1) compressed at level 6, and compress/flate's reader
// for comparison.
func BenchmarkInflate(b *testing.B) {
	words := []string{"the", "message", "Received:", "from", "mx.example.org", "with", "ESMTPS", "id", "for", "<user@example.org>", "Subject:", "meeting", "tomorrow", "at", "noon", "regards", "\r\n"}
	rng := rand.New(rand.NewPCG(3, 4))
	var text []byte
	for len(text) < 1<<20 {
		text = append(text, words[rng.IntN(len(words))]...)
		text = append(text, ' ', byte('a'+rng.IntN(26)), byte('0'+rng.IntN(10)), ' ')
	}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, 6)
	zw.Write(text)
	zw.Close()
	for _, bc := range []struct {
		name string
		new  func(io.Reader) io.Reader
	}{
		{"inflate", func(r io.Reader) io.Reader { return New(r, 2048) }},
		{"compress-flate", func(r io.Reader) io.Reader { return flate.NewReader(r) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			buf := make([]byte, 4096)
			for b.Loop() {
				r := bc.new(bytes.NewReader(z.Bytes()))
				for {
					_, err := r.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestWindowGrowsWithOutput: a conversation that has decoded a few
// commands holds a window of a few hundred octets, not 32 KiB (an IMAP
// connection idle in IDLE after COMPRESS), and the window grows through
// every size to its full one while matches refer back across each growth
// (stored, fixed and dynamic blocks, read in small pieces).
func TestWindowGrowsWithOutput(t *testing.T) {
	var zbuf bytes.Buffer
	zw, _ := flate.NewWriter(&zbuf, 6)
	cmds := []byte("a LOGIN user@example.org secret\r\nb SELECT INBOX\r\nc IDLE\r\n")
	zw.Write(cmds)
	zw.Flush()
	d := New(bytes.NewReader(zbuf.Bytes()), 64)
	got := make([]byte, len(cmds))
	if _, err := io.ReadFull(d, got); err != nil || !bytes.Equal(got, cmds) {
		t.Fatalf("got %q, %v", got, err)
	}
	if len(d.win) > minWin {
		t.Errorf("window of %d octets after %d decoded, want at most %d", len(d.win), len(cmds), minWin)
	}

	// 200 KiB of text repeating at distances up to 20 KiB, some random.
	rng := rand.New(rand.NewPCG(1, 2))
	var plain []byte
	for len(plain) < 200<<10 {
		switch rng.IntN(3) {
		case 0:
			back := 1 + rng.IntN(min(len(plain)+1, 20<<10))
			n := min(back, 1+rng.IntN(300))
			if back <= len(plain) {
				plain = append(plain, plain[len(plain)-back:len(plain)-back+n]...)
			}
		case 1:
			for range 1 + rng.IntN(100) {
				plain = append(plain, byte(rng.IntN(256)))
			}
		default:
			plain = append(plain, "FETCH 1:* (FLAGS UID)\r\n"...)
		}
	}
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly} {
		zbuf.Reset()
		zw, _ := flate.NewWriter(&zbuf, level)
		zw.Write(plain)
		zw.Close()
		d := New(bytes.NewReader(zbuf.Bytes()), 16)
		var out bytes.Buffer
		buf := make([]byte, 1000)
		sizes := map[int]bool{}
		for {
			n, err := d.Read(buf[:1+rng.IntN(len(buf))])
			out.Write(buf[:n])
			sizes[len(d.win)] = true
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("level %d: %v", level, err)
			}
		}
		if !bytes.Equal(out.Bytes(), plain) {
			t.Fatalf("level %d: output differs from the input", level)
		}
		if len(d.win) != winSize || !sizes[minWin] && level != flate.NoCompression {
			t.Errorf("level %d: window sizes seen %v, ending at %d", level, sizes, len(d.win))
		}
	}
}
