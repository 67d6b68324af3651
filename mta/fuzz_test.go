package mta

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// FuzzSplitAddress: an address split without error gives back its parts:
// a non-empty local part (with no unquoted '@'), a lower-case domain without
// a trailing dot, and together they are the address; only "postmaster" may
// have no domain.
func FuzzSplitAddress(f *testing.F) {
	for _, s := range []string{
		"bob@hamburger.edu", "Bob@Hamburger.EDU.", "postmaster", "PostMaster", `"a@b"@c.d`, "a@b@c.d",
		"@x", "x@", "a%b@c", "a!b@c", "a@b..", "@", "", strings.Repeat("a", 330) + "@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		local, domain, err := splitAddress(addr)
		if err != nil {
			if local != "" || domain != "" {
				t.Fatalf("error %v with parts %q %q", err, local, domain)
			}
			return
		}
		if len(addr) > 320 {
			t.Fatalf("%d-byte address accepted", len(addr))
		}
		if local == "" {
			t.Fatalf("%q: empty local part accepted", addr)
		}
		if domain == "" {
			if !strings.EqualFold(addr, "postmaster") {
				t.Fatalf("%q: no domain, and not postmaster", addr)
			}
			return
		}
		if domain != strings.ToLower(domain) || strings.HasSuffix(domain, ".") {
			t.Fatalf("%q: domain %q not lower case or with a trailing dot", addr, domain)
		}
		if !strings.HasPrefix(local, `"`) && strings.Contains(local, "@") {
			t.Fatalf("%q: unquoted @ in local part %q", addr, local)
		}
		rest, ok := strings.CutPrefix(addr, local+"@")
		if !ok || strings.ToLower(strings.TrimSuffix(rest, ".")) != domain {
			t.Fatalf("%q: split into %q and %q", addr, local, domain)
		}
	})
}

// FuzzSMTPEnvelope speaks EHLO, MAIL FROM and RCPT TO with fuzzed
// arguments to the MX listener over a real socket. Every reply is a
// well-formed reply code, the session survives each command (NOOP is
// answered 250 at the end), and nothing is relayed: without
// authentication the queue stays empty whatever the addresses look like.
func FuzzSMTPEnvelope(f *testing.F) {
	seeds := [][3]string{
		{"crepes.fr", "<alice@crepes.fr>", "<bob@hamburger.edu>"},
		{"crepes.fr", "<>", "<postmaster>"},
		{"[127.0.0.1]", "<alice@crepes.fr> SIZE=100 BODY=8BITMIME", "<bob+tag@hamburger.edu> NOTIFY=NEVER"},
		{"x", "<a@b> SMTPUTF8", "<@relay.example:bob@hamburger.edu>"},
		{"x", "<a@b>", "<bob%elsewhere.example@hamburger.edu>"},
		{"x", "<a@b>", "<bob@hamburger.edu@elsewhere.example>"},
		{"x", "<a@b>", `<"bob@elsewhere.example"@hamburger.edu>`},
		{"x", "<a@b>", "<bob@HAMBURGER.EDU.>"},
		{"x", "<a@b>", "<elsewhere.example!bob@hamburger.edu>"},
		{"x", "<a@b>", "<someone@elsewhere.example>"},
		{"\x00", "<\x00@b>", "<bob\x00@hamburger.edu>"},
		{"\xff\xfe", "<\xff@b>", "<\xc3\x28@hamburger.edu>"},
		{"x", "alice@crepes.fr", "bob@hamburger.edu"},
		{"x", "<a@b> SIZE=99999999999999999999", "<>"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	ts := newTestServer(f, func(o *Options) { o.Logger = slog.New(slog.DiscardHandler) })
	clean := func(s string) string {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
		if len(s) > 1000 {
			s = s[:1000]
		}
		return s
	}
	f.Fuzz(func(t *testing.T, helo, from, to string) {
		helo, from, to = clean(helo), clean(from), clean(to)
		d := dial(t, ts.smtpAddr)
		defer d.conn.Close()
		if code, _ := d.read(); code != 220 {
			t.Fatalf("greeting %d", code)
		}
		reply := func(line string) int {
			code, msg := d.send(line)
			if code < 200 || code > 599 {
				t.Fatalf("%q: reply %d %q", line, code, msg)
			}
			if code == 421 {
				t.Fatalf("%q: the session was closed: %d %s", line, code, msg)
			}
			return code
		}
		reply("EHLO " + helo)
		mail := reply("MAIL FROM:" + from)
		rcpt := reply("RCPT TO:" + to)
		if rcpt == 250 {
			if mail != 250 {
				t.Fatalf("RCPT accepted after MAIL got %d", mail)
			}
			if code := reply("DATA"); code == 354 {
				reply("Subject: fuzz\r\n\r\nbody\r\n.")
			}
		}
		if code := reply("NOOP"); code != 250 {
			t.Fatalf("NOOP: %d", code)
		}
		d.send("QUIT")
		if q := ts.queue.all(); len(q) > 0 {
			t.Fatalf("relayed without authentication: from %q to %v (MAIL %q, RCPT %q)", q[0].from, q[0].rcpts, from, to)
		}
	})
}

// chunkReader returns data in pieces of the sizes given, then err, and
// records the largest buffer it was asked to fill.
type chunkReader struct {
	data   []byte
	sizes  []byte
	err    error
	maxBuf int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.maxBuf = max(r.maxBuf, len(p))
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := len(p)
	if len(r.sizes) > 0 {
		n = min(n, int(r.sizes[0])*37+1)
		r.sizes = r.sizes[1:]
	}
	n = min(n, len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzReadMessage: the DATA path (readMessage through the deadline reader,
// over a connection whose deadline it sets) returns the body as sent (with
// at most an empty line put before a body that has no header), or the bare
// LF reply, or the size limit's 552, or the reader's error mapped to its
// SMTP reply (a timeout to 421); and it never asks the
// connection for more than one 4 KiB chunk per deadline.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("Subject: a\r\n\r\nbody\r\n"), []byte{1, 2, 3}, uint16(100), uint8(0))
	f.Add([]byte("Subject: a\n\nbare\nlines\n"), []byte{}, uint16(1000), uint8(0))
	f.Add([]byte("\n\r\n\r\r\n\n"), []byte{0}, uint16(7), uint8(0))
	f.Add(bytes.Repeat([]byte("x\n"), 5000), []byte{200, 200}, uint16(65535), uint8(1))
	f.Add([]byte("too long"), []byte{}, uint16(3), uint8(2))
	f.Add([]byte("partial"), []byte{}, uint16(100), uint8(3))
	server, client := net.Pipe()
	f.Cleanup(func() { server.Close(); client.Close() })
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body, sizes []byte, limit uint16, end uint8) {
		endErrs := []error{io.EOF, smtp.ErrTooLongLine, smtp.ErrDataTooLarge, io.ErrUnexpectedEOF, timeoutError{}}
		endErr := endErrs[int(end)%len(endErrs)]
		cr := &chunkReader{data: body, sizes: sizes, err: endErr}
		max := int64(limit)
		// A spool that goes to disk past 64 bytes, or when its 256 are taken.
		budget, inFlight := newMemBudget(256), &atomic.Int64{}
		sp := &spool{budget: budget, threshold: 64, dir: dir, inFlight: inFlight}
		var got []byte
		err := readMessage(&deadlineReader{r: cr, conn: server, timeout: time.Minute}, max, sp)
		if err == nil {
			got, err = sp.bytes(context.Background())
			got = append([]byte(nil), got...)
		}
		if n := int64(len(got)); err == nil && inFlight.Load() != n {
			t.Fatalf("%d bytes in flight, want %d", inFlight.Load(), n)
		}
		sp.release()
		if inFlight.Load() != 0 || budget.used != 0 {
			t.Fatalf("after release: %d bytes in flight, %d of memory held", inFlight.Load(), budget.used)
		}
		if cr.maxBuf > dataChunk {
			t.Fatalf("asked for %d bytes under one deadline, want at most %d", cr.maxBuf, dataChunk)
		}
		tooBig := int64(len(body)) > max
		var se *smtp.SMTPError
		switch {
		case bareLF(body[:min(int64(len(body)), max+1)], false):
			if err != errBareLFReply {
				t.Fatalf("%q: err %v, want the bare LF reply", body, err)
			}
			return
		case tooBig || endErr == smtp.ErrDataTooLarge:
			if !errors.Is(err, smtp.ErrDataTooLarge) {
				t.Fatalf("%d bytes, limit %d, end %v: err %v, want 552", len(body), max, endErr, err)
			}
			return
		case endErr == smtp.ErrTooLongLine:
			if !errors.As(err, &se) || se.Code != 500 {
				t.Fatalf("too long line: err %v, want a 500 reply", err)
			}
			return
		case endErr == (timeoutError{}):
			if !errors.As(err, &se) || se.Code != 421 {
				t.Fatalf("a stalled client: err %v, want a 421 reply", err)
			}
			return
		case endErr == io.ErrUnexpectedEOF:
			if err == nil || errors.As(err, &se) {
				t.Fatalf("broken connection: err %v, want a plain error", err)
			}
			return
		case err != nil:
			t.Fatalf("%q: %v", body, err)
		}
		for i, c := range got {
			if c == '\n' && (i == 0 || got[i-1] != '\r') {
				t.Fatalf("bare LF at %d of %q", i, got)
			}
		}
		if !sameButBlankLine(body, got) {
			t.Fatalf("content changed: %q -> %q", body, got)
		}
	})
}

// FuzzReceived: whatever the client says in HELO, whatever its reverse
// name and the recipient, the Received header is one well-formed folded
// field: valid UTF-8, CRLF line ends, continuation lines starting with a
// tab, no line over 998 bytes (RFC 5322 2.1.1), the client's text unable to
// add comments, literals or a second date, and the date parseable.
func FuzzReceived(f *testing.F) {
	f.Add("crepes.fr", "mail.crepes.fr", "bob@hamburger.edu", []byte{127, 0, 0, 1}, true, false, true)
	f.Add("", "", "", []byte{}, false, false, false)
	f.Add("evil\r\nBcc: x@y", "a(b)c", "b>; Wed, 1 Jan 2000 00:00:00 +0000\r\nX: y", make([]byte, 16), true, true, false)
	f.Add(strings.Repeat("\xff", 300), strings.Repeat("é", 200), strings.Repeat("\x80", 400), []byte{1, 2, 3, 4}, true, true, true)
	f.Fuzz(func(t *testing.T, helo, rdns, rcpt string, ip []byte, esmtp, auth, useTLS bool) {
		r := &received{helo: helo, rdns: rdns, by: "mx.hamburger.edu", id: "abc123", esmtp: esmtp, auth: auth}
		if len(ip) == 4 || len(ip) == 16 {
			r.ip = net.IP(ip)
		}
		if useTLS {
			r.tlsState = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
		}
		now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		h := string(r.header(rcpt, now))
		if !utf8.ValidString(h) {
			t.Fatalf("invalid UTF-8: %q", h)
		}
		if !strings.HasPrefix(h, "Received: from ") || !strings.HasSuffix(h, "\r\n") {
			t.Fatalf("not a Received field: %q", h)
		}
		lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
		for i, l := range lines {
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("line %d has a bare CR, LF or NUL: %q", i, l)
			}
			if i > 0 && !strings.HasPrefix(l, "\t") {
				t.Fatalf("line %d is not a continuation: %q", i, l)
			}
			if len(l) > 998 {
				t.Fatalf("line %d is %d bytes, over RFC 5322's 998", i, len(l))
			}
		}
		comments := 1
		if useTLS {
			comments++
		}
		if n, m := strings.Count(h, "("), strings.Count(h, ")"); n != comments || m != comments {
			t.Fatalf("%d '(' and %d ')', want %d: %q", n, m, comments, h)
		}
		if n := strings.Count(h, "["); n != 1 {
			t.Fatalf("%d '[', want 1: %q", n, h)
		}
		brackets := 0
		if rcpt != "" {
			brackets = 1
		}
		if strings.Count(h, "<") != brackets || strings.Count(h, ">") != brackets {
			t.Fatalf("angle brackets: %q", h)
		}
		if strings.Count(h, ";") != 1 {
			t.Fatalf("more than one ';': %q", h)
		}
		date := strings.TrimSpace(h[strings.LastIndexByte(h, ';')+1:])
		if d, err := time.Parse(time.RFC1123Z, date); err != nil || !d.Equal(now) {
			t.Fatalf("date %q: %v", date, err)
		}
	})
}

// sameButBlankLine reports whether out is in, or in with one CRLF put at
// a line start (the empty line that dataFilter puts before a body).
func sameButBlankLine(in, out []byte) bool {
	if bytes.Equal(in, out) {
		return true
	}
	i := 0
	for i < len(in) && i < len(out) && in[i] == out[i] {
		i++
	}
	if i > 0 && in[i-1] == '\r' && out[i-1] == '\r' {
		i-- // the CRLF went in before a line that starts with CR
	}
	return (i == 0 || in[i-1] == '\n') && bytes.HasPrefix(out[i:], []byte("\r\n")) && bytes.Equal(in[i:], out[i+2:])
}

// FuzzDataFilter: data with a bare LF is refused; otherwise, however it is
// cut into reads, the filter passes on the same bytes; they are the input,
// or the input with one CRLF put at a line start after nothing but header
// fields; and what comes out starts with a header field or the empty line.
func FuzzDataFilter(f *testing.F) {
	f.Add([]byte("Do you like ketchup?\r\nHow about pickles?\r\n"), []byte{3, 1})
	f.Add([]byte("Subject: a\r\n\r\nbody\r\n"), []byte{})
	f.Add([]byte("Subject: a\r\nnot a field\r\n"), []byte{5})
	f.Add([]byte("Subject : obsolete\r\n folded\r\n\r\n"), []byte{1, 1, 1})
	f.Add([]byte(" starts folded\r\n"), []byte{})
	f.Add([]byte("\r\rx"), []byte{1})
	f.Add([]byte("NoColon"), []byte{2})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		var whole bytes.Buffer
		fw := newDataFilter(&whole)
		_, err := fw.Write(in)
		if bareLF(in, false) {
			if err != errBareLF {
				t.Fatalf("%q: %v, want the bare LF refused", in, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		fw.Close()
		var parts bytes.Buffer
		fp := newDataFilter(&parts)
		rest := in
		for _, c := range cuts {
			k := min(int(c), len(rest))
			fp.Write(rest[:k])
			rest = rest[k:]
		}
		fp.Write(rest)
		fp.Close()
		out := whole.Bytes()
		if !bytes.Equal(out, parts.Bytes()) {
			t.Fatalf("cut %v: %q, whole: %q", cuts, parts.Bytes(), out)
		}
		if bytes.Equal(out, in) {
			return
		}
		if len(out) != len(in)+2 {
			t.Fatalf("%q -> %q: more than one CRLF added", in, out)
		}
		i := -1
		for k := 0; k+2 <= len(out); k++ {
			if out[k] == '\r' && out[k+1] == '\n' && (k == 0 || out[k-1] == '\n') &&
				bytes.Equal(append(append([]byte{}, out[:k]...), out[k+2:]...), in) {
				i = k
				break
			}
		}
		if i < 0 {
			t.Fatalf("%q -> %q: not the input with a CRLF put in at a line start", in, out)
		}
		for _, line := range bytes.SplitAfter(out[:i], []byte("\n")) {
			if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
				continue
			}
			if k := bytes.IndexByte(line, ':'); k <= 0 || len(bytes.TrimRight(line[:k], " \t")) == 0 {
				t.Fatalf("%q -> %q: the header kept %q, no field", in, out, line)
			}
		}
	})
}

// FuzzSMTPSession sends arbitrary bytes as a whole session to the MX
// listener (conn.go's loop), then ends its half of the connection. The
// server must answer only well-formed replies (a code 2xx-5xx, a space or
// a hyphen, CRLF, no other control characters), close the connection
// soon after the client's end (no hang), put no enhanced status code in
// any reply when the client never sent EHLO, and relay nothing.
func FuzzSMTPSession(f *testing.F) {
	for _, s := range []string{
		"HELO crepes.fr\r\nMAIL FROM:<alice@crepes.fr>\r\nRCPT TO:<bob@hamburger.edu>\r\nDATA\r\nDo you like ketchup?\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<bob@hamburger.edu>\r\nBDAT 5 LAST\r\nhello\r\nRSET\r\nDATA\r\n",
		"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\n",
		"EHLO x\r\nAUTH PLAIN\r\n*\r\nAUTH LOGIN dXNlcg==\r\n\r\n",
		"RCPT TO:<a@b>\r\nDATA\r\n\r\n.\r\nVRFY\r\nHELP\r\nNOOP x\r\nBDAT x\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bob@hamburger.edu>\r\nDATA\r\nx\n.\nMAIL FROM:<e@v>\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<someone@elsewhere.example>\r\nRCPT TO:<bob@hamburger.edu>\r\nBDAT 0\r\nBDAT 2 LAST\r\n\r\n",
		"\x00\xff\r\n\n\r\nhelo\r\nehlo\r\nMAIL\r\n",
	} {
		f.Add([]byte(s))
	}
	ts := newTestServer(f, func(o *Options) {
		o.Logger = slog.New(slog.DiscardHandler)
		o.CommandTimeout = 2 * time.Second
		o.DataTimeout = 2 * time.Second
		o.MaxLineLength = 512
	})
	replyLine := regexp.MustCompile(`^[2-5][0-9][0-9][ -][^\x00-\x08\x0a-\x1f\x7f]*$`)
	enhanced := regexp.MustCompile(`^[245][0-9][0-9] [245]\.[0-9]{1,3}\.[0-9]{1,3} `)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			in = in[:64<<10]
		}
		c, err := net.DialTimeout("tcp", ts.smtpAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		out, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server did not end the session; it sent %q", out)
		}
		ehlo := bytes.Contains(bytes.ToUpper(in), []byte("EHLO"))
		for i, l := range strings.SplitAfter(string(out), "\r\n") {
			if l == "" {
				continue
			}
			if !strings.HasSuffix(l, "\r\n") || !replyLine.MatchString(strings.TrimSuffix(l, "\r\n")) {
				t.Fatalf("reply line %d malformed: %q", i, l)
			}
			if !ehlo && enhanced.MatchString(l) {
				t.Fatalf("enhanced status code without EHLO: %q", l)
			}
		}
		if q := ts.queue.all(); len(q) > 0 {
			t.Fatalf("relayed without authentication: %v", q)
		}
	})
}

// FuzzParseMailRcpt: parse.go on any MAIL or RCPT argument: no panic; a
// path that parses is a mailbox with a non-empty local part and domain
// (or <> and <Postmaster>), without a space or a '>' in its domain, and
// its parameters have upper-case keywords, none twice.
func FuzzParseMailRcpt(f *testing.F) {
	for _, s := range []string{"FROM:<a@b> SIZE=1 BODY=8BITMIME", "FROM:<>", "TO:<Postmaster>", `TO:<"a b"@c>`,
		"TO:<@r1,@r2:a@b>", "FROM: <a@b>", "from:a@b", "TO:<a@b>x", "FROM:<a@b> AUTH=a+2Bb@c", "TO:<a@>", "TO:<\"a@b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		for _, parse := range []func(string) (string, []param, error){parseMailArg, parseRcptArg} {
			addr, params, err := parse(arg)
			if err != nil {
				continue
			}
			if addr != "" && !strings.EqualFold(addr, "postmaster") {
				at := strings.LastIndexByte(addr, '@')
				if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr[at+1:], " \t>") {
					t.Fatalf("%q: mailbox %q", arg, addr)
				}
			}
			seen := map[string]bool{}
			for _, p := range params {
				if p.key == "" || p.key != strings.ToUpper(p.key) || seen[p.key] {
					t.Fatalf("%q: parameters %q", arg, params)
				}
				seen[p.key] = true
			}
			mailOptions(params)
			rcptOptions(params)
		}
	})
}

// FuzzDotReader: the dot reader gives what a line-by-line reading of RFC
// 5321 4.5.2 gives (a leading dot removed from each CRLF-ended line, the
// end at a line that is a lone dot), and leaves what follows unread.
func FuzzDotReader(f *testing.F) {
	for _, s := range []string{"a\r\n.\r\n", "..a\r\n.\r\nQUIT\r\n", "a\n.\nb\r\n.\r\n", ".\rb\r\n.\r\n", "a\r\r\n.\r\n", "x"} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		// The reference: line by line.
		var want []byte
		rest, end := in, false
		for len(rest) > 0 {
			if bytes.HasPrefix(rest, []byte(".\r\n")) {
				rest, end = rest[3:], true
				break
			}
			rest = bytes.TrimPrefix(rest, []byte("."))
			i := bytes.Index(rest, []byte("\r\n"))
			if i < 0 {
				want, rest = append(want, rest...), nil
				break
			}
			want, rest = append(want, rest[:i+2]...), rest[i+2:]
		}
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		d := &dotReader{r: br}
		var got []byte
		buf := make([]byte, int(size)%32+1)
		var err error
		for {
			var n int
			n, err = d.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if end != (err == io.EOF) || (!end && err != io.ErrUnexpectedEOF) {
			t.Fatalf("%q: error %v, end %v", in, err, end)
		}
		// Without the end, the data is refused anyway: what came before
		// the cut need only be a prefix.
		if end && !bytes.Equal(got, want) || !end && !bytes.HasPrefix(want, got) {
			t.Fatalf("%q: got %q, want %q", in, got, want)
		}
		if left, _ := io.ReadAll(br); end && !bytes.Equal(left, rest) {
			t.Fatalf("%q: left %q, want %q", in, left, rest)
		}
	})
}
