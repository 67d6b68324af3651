package imap_test

import (
	"bufio"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"petrel/internal/testenv"
)

// zconn is a client's side of COMPRESS DEFLATE: each write is deflated and
// sync-flushed (as most clients do); what the server sends is inflated by
// compress/flate, which returns data at sync flushes, so a server that
// did not flush its bursts would make the test time out.
type zconn struct {
	net.Conn
	zw   *flate.Writer
	zr   io.Reader
	wire *wireCount
}

type wireCount struct {
	r       io.Reader
	in, out int // compressed octets read, written
}

func (w *wireCount) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.in += n
	return n, err
}

func (z *zconn) Write(p []byte) (int, error) {
	if _, err := z.zw.Write(p); err != nil {
		return 0, err
	}
	return len(p), z.zw.Flush()
}

func (z *zconn) Read(p []byte) (int, error) { return z.zr.Read(p) }

// compress sends COMPRESS DEFLATE and switches the connection to it.
func (r *rawConn) compress(t testing.TB) *wireCount {
	t.Helper()
	r.cmd(t, "COMPRESS DEFLATE", "OK")
	if r.br.Buffered() > 0 {
		t.Fatalf("octets after COMPRESS's OK before any command")
	}
	wire := &wireCount{r: r.c}
	zw, _ := flate.NewWriter(countingWriter{r.c, &wire.out}, flate.DefaultCompression)
	z := &zconn{Conn: r.c, zw: zw, zr: flate.NewReader(wire), wire: wire}
	r.c = z
	r.br = bufio.NewReader(z)
	return wire
}

type countingWriter struct {
	w io.Writer
	n *int
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += n
	return n, err
}

// TestCompress: a session after COMPRESS DEFLATE: pipelined commands, a
// large FETCH whose bodies come back intact (and smaller on the wire),
// IDLE's unsolicited EXISTS sent while the server waits for DONE, APPEND
// with a synchronising literal, a second COMPRESS refused.
func TestCompress(t *testing.T) {
	e := newEnv(t)
	body := strings.Repeat("A line of a message body that says much the same as the last one.\n", 200)
	for i := 0; i < 20; i++ {
		e.deliver(t, simpleMsg(fmt.Sprintf("message %d", i), body))
	}
	r := e.raw(t)
	r.login(t)
	wire := r.compress(t)

	// Pipelined: both replies come, in order.
	r.send(t, "p1 SELECT INBOX\r\np2 NOOP")
	r.until(t, "p1", "OK")
	r.until(t, "p2", "OK")

	before := wire.in
	out := r.cmd(t, "UID FETCH 1:* (BODY.PEEK[TEXT])", "OK")
	if n := strings.Count(out, "A line of a message body"); n != 20*200 {
		t.Fatalf("FETCH gave %d body lines, want %d", n, 20*200)
	}
	if plain, sent := len(out), wire.in-before; sent*5 > plain {
		t.Errorf("FETCH of %d octets took %d on the wire: not compressed", plain, sent)
	} else {
		t.Logf("FETCH of %d octets took %d on the wire", plain, sent)
	}

	r.cmd(t, "COMPRESS DEFLATE", "NO [COMPRESSIONACTIVE]")

	// IDLE: the EXISTS is written while a read waits for DONE.
	r.send(t, "i1 IDLE")
	if l := r.line(t); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	e.deliver(t, simpleMsg("while idling", "b"))
	if l := r.line(t); l != "* 21 EXISTS\r\n" {
		t.Fatalf("during IDLE: %q, want * 21 EXISTS", l)
	}
	r.send(t, "DONE")
	r.until(t, "i1", "OK")

	// A synchronising literal: the continuation is flushed before the
	// server reads the literal.
	msg := crlf(simpleMsg("appended", "under compression"))
	r.send(t, fmt.Sprintf("a1 APPEND INBOX {%d}", len(msg)))
	if l := r.line(t); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND: %q", l)
	}
	r.c.Write([]byte(msg + "\r\n"))
	r.until(t, "a1", "OK")
	if out := r.cmd(t, "UID FETCH 22 BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "OK"); !strings.Contains(out, "Subject: appended") {
		t.Fatalf("appended message: %q", out)
	}
	r.send(t, "z LOGOUT")
	r.until(t, "z", "OK")
}

// flushedCommand is one command of ../internal/inflate/testdata: its
// octets and what Python's zlib sent for them with Z_PARTIAL_FLUSH.
type flushedCommand struct {
	Plain    []byte `json:"plain"`
	Deflated []byte `json:"deflated"`
}

// TestCompressPartialFlush plays zlib's Z_PARTIAL_FLUSH output of a
// session (SELECT, FETCH, APPEND of text and of 8-bit noise, NOOP, IDLE,
// LOGOUT; the way mbsync flushes) command by command, each only after the
// last one's reply. With Go's compress/flate as the server's inflater the
// first reply never comes: it waits for the next block's header.
func TestCompressPartialFlush(t *testing.T) {
	for _, level := range []int{1, 6, 9} {
		t.Run(fmt.Sprint("zlib-level-", level), func(t *testing.T) {
			b, err := os.ReadFile(fmt.Sprintf("../internal/inflate/testdata/partial-flush-%d.json", level))
			if err != nil {
				t.Fatal(err)
			}
			var cmds []flushedCommand
			if err := json.Unmarshal(b, &cmds); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			for i := 0; i < 3; i++ {
				e.deliver(t, simpleMsg(fmt.Sprint("m", i), "b"))
			}
			r := e.raw(t)
			r.login(t)
			r.cmd(t, "COMPRESS DEFLATE", "OK")
			raw := r.c
			zr := bufio.NewReader(flate.NewReader(raw))
			r.br = zr
			for i, c := range cmds {
				raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := raw.Write(c.Deflated); err != nil {
					t.Fatal(err)
				}
				cmd := string(c.Plain)
				tag, _, _ := strings.Cut(cmd, " ")
				switch {
				case strings.HasSuffix(cmd, " IDLE\r\n"):
					if l := r.line(t); !strings.HasPrefix(l, "+ ") {
						t.Fatalf("command %d IDLE: %q", i, l)
					}
					e.deliver(t, simpleMsg("new", "b"))
					if l := r.line(t); !strings.HasSuffix(l, " EXISTS\r\n") {
						t.Fatalf("during IDLE: %q", l)
					}
					continue
				case cmd == "DONE\r\n":
					tag = cmds[i-1].tag()
				}
				out := r.until(t, tag, "OK")
				if strings.Contains(cmd, "UID FETCH") && strings.Count(out, " FETCH (") != 3 {
					t.Fatalf("command %d: %q", i, out)
				}
			}
		})
	}
}

func (c flushedCommand) tag() string {
	tag, _, _ := strings.Cut(string(c.Plain), " ")
	return tag
}

// TestCompressRefused: COMPRESS before login, with an unknown mechanism,
// or without one; and STARTTLS refused under compression.
func TestCompressRefused(t *testing.T) {
	e := newEnv(t)
	r := e.raw(t)
	r.cmd(t, "COMPRESS DEFLATE", "BAD")
	r.login(t)
	r.cmd(t, "COMPRESS LZW", "BAD")
	r.cmd(t, "COMPRESS", "BAD")
	caps := r.cmd(t, "CAPABILITY", "OK")
	if !strings.Contains(caps, " COMPRESS=DEFLATE") {
		t.Errorf("COMPRESS=DEFLATE not advertised: %q", caps)
	}
	r.compress(t)
	r.cmd(t, "NOOP", "OK")
	// TLS cannot start under compression (after UNAUTHENTICATE STARTTLS
	// is a command again).
	r.cmd(t, "UNAUTHENTICATE", "OK")
	r.cmd(t, "STARTTLS", "NO")
	r.login(t)
	r.cmd(t, "NOOP", "OK")
}

// TestCompressIdleMemory reports the server's memory per connection idling
// in IDLE with COMPRESS on (TestIdleConnectionMemory measures it off): the
// inflater stays with the connection (its code tables, its input buffer
// and a window only as long as the input decoded so far, at most 32 KiB:
// internal/inflate), no compressor does.
// The clients' inflaters and buffers are made before the first measure
// and their commands go as stored DEFLATE blocks (no compressor), so what
// grows is the server's side and the client sockets; and the one
// compressor the server's pool keeps (about 1 MiB, shared), spread over
// the connections. PETREL_IDLE_CONNS sets the count (default 200).
func TestCompressIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many connections")
	}
	n := 200
	if v, err := strconv.Atoi(os.Getenv("PETREL_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(t)
	for i := 0; i < 20; i++ {
		e.deliver(t, simpleMsg("m", "b"))
	}
	e.client(t, nil) // a first login fills the store's password cache
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	type client struct {
		plain, lines *bufio.Reader
		zr           io.ReadCloser
		c            net.Conn
	}
	clients := make([]*client, n)
	for i := range clients {
		zr := flate.NewReader(strings.NewReader(""))
		clients[i] = &client{plain: bufio.NewReader(nil), zr: zr, lines: bufio.NewReader(zr)}
	}
	readUntil := func(br *bufio.Reader, c net.Conn, prefix string) string {
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	before := measure()
	for _, cl := range clients {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		cl.c = c
		cl.plain.Reset(c)
		readUntil(cl.plain, c, "* OK")
		fmt.Fprintf(c, "a LOGIN user@example.org secret\r\nb COMPRESS DEFLATE\r\n")
		readUntil(cl.plain, c, "b OK")
		cl.zr.(flate.Resetter).Reset(cl.plain, nil)
		cl.lines.Reset(cl.zr)
		c.Write(storedBlock("c SELECT INBOX\r\nd IDLE\r\n"))
		readUntil(cl.lines, c, "+ ")
		c.SetReadDeadline(time.Time{})
	}
	after := measure()
	per := float64(after-before) / float64(n)
	t.Logf("%d idle IDLE connections with COMPRESS: %.1f KiB each (heap+stacks, server side plus a bare client socket)", n, per/1024)
	limit := 32.0 // KiB; measured 23.6 (63 when the inflater's window was 32 KiB from the start, 56 after wait.go)
	if testenv.Race {
		limit *= 1.5 // the race detector's bookkeeping grows the heap too
	}
	if per > limit*1024 {
		t.Errorf("%.1f KiB per compressed idle connection, want under %.0f", per/1024, limit)
	}

	// They are alive: a delivery reaches them, compressed.
	e.deliver(t, simpleMsg("wake up", "all"))
	for _, cl := range clients[:20] {
		if l := readUntil(cl.lines, cl.c, "*"); l != "* 21 EXISTS\r\n" {
			t.Fatalf("idle connection got %q; want * 21 EXISTS", l)
		}
	}
	for _, cl := range clients {
		cl.c.Close()
	}
}

// storedBlock is s as one stored (uncompressed) DEFLATE block, not final.
func storedBlock(s string) []byte {
	n := len(s)
	return append([]byte{0, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)}, s...)
}

// TestNotifyCompressed: NOTIFY's events, written while the server waits
// for a command, are flushed through COMPRESS at once.
func TestNotifyCompressed(t *testing.T) {
	e := newEnv(t)
	r := e.raw(t)
	r.login(t)
	r.compress(t)
	r.cmd(t, "NOTIFY SET (PERSONAL (MessageNew MessageExpunge))", "OK")
	e.deliver(t, simpleMsg("news", "b"))
	if l := r.line(t); !strings.HasPrefix(l, "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 ") {
		t.Fatalf("after a delivery: %q, want * STATUS INBOX (MESSAGES 1 UIDNEXT 2 …", l)
	}
}

// BenchmarkFetchCompressed: UID FETCH 1:* BODY.PEEK[] of 100 messages of
// about 6 KB of mail-like text, plain and under COMPRESS; reports the
// octets the server sent per FETCH.
func BenchmarkFetchCompressed(b *testing.B) {
	e := newEnv(b)
	words := strings.Fields("the meeting is moved to Thursday at noon please bring the quarterly figures and your notes from last week regards " +
		"invoice order shipment delayed customer account password reset link expires tomorrow attached report draft review comments budget")
	rng := rand.New(rand.NewPCG(19, 4978))
	for i := 0; i < 100; i++ {
		var body strings.Builder
		for j := 0; body.Len() < 6000; j++ {
			body.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(5) == 0 {
				fmt.Fprintf(&body, " %d", rng.IntN(100000))
			}
			if j%12 == 11 {
				body.WriteString("\n")
			} else {
				body.WriteString(" ")
			}
		}
		e.deliver(b, simpleMsg(fmt.Sprintf("message %d", i), body.String()))
	}
	for _, compressed := range []bool{false, true} {
		name := "plain"
		if compressed {
			name = "compress"
		}
		b.Run(name, func(b *testing.B) {
			r := e.raw(b)
			r.login(b)
			var wire *wireCount
			if compressed {
				wire = r.compress(b)
			}
			r.cmd(b, "SELECT INBOX", "OK")
			var plain, sent int
			for b.Loop() {
				before := 0
				if wire != nil {
					before = wire.in
				}
				out := r.cmd(b, "UID FETCH 1:* BODY.PEEK[]", "OK")
				plain += len(out)
				if wire != nil {
					sent += wire.in - before
				} else {
					sent += len(out)
				}
			}
			b.ReportMetric(float64(sent)/float64(b.N), "wire-B/op")
			b.ReportMetric(float64(plain)/float64(sent), "ratio")
		})
	}
}
