package junk

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// Bounds of the tokenizer: whatever a message holds, tokenizing it reads at
// most MaxTextBytes of decoded text, looks at MaxParts MIME parts at a depth
// of MaxDepth, and returns at most MaxTokens distinct tokens.
const (
	MaxTextBytes = 256 << 10
	MaxParts     = 100
	MaxDepth     = 8
	MaxTokens    = 3000
	maxHeader    = 256 << 10

	minWord = 3  // shorter words say little ("a", "of")
	maxWord = 20 // longer ones become a "skip:" token (base64 debris, URLs' paths)
)

// labelField reports whether a header field gives away a label another
// filter (or we) put on the message: such fields are never tokenized.
func labelField(name string) bool {
	name = strings.ToLower(name)
	return strings.HasPrefix(name, "x-spam") || name == "x-petrel-junk"
}

// headerKinds says how each tokenized header field is read; fields not
// named here are not tokenized (Date, Message-ID's random part, trace
// fields of the delivering host say nothing about the sender's intent).
var headerKinds = map[string]byte{
	"subject":                   'w', // words
	"from":                      'a', // addresses: whole, domain, display-name words
	"reply-to":                  'a',
	"to":                        'a',
	"cc":                        'a',
	"sender":                    'a',
	"return-path":               'a',
	"received":                  'r', // host names and IP address prefixes
	"message-id":                'm', // the domain part
	"content-type":              'v', // the whole value's words
	"content-transfer-encoding": 'v',
	"x-mailer":                  'v',
	"user-agent":                'v',
	"list-id":                   'v',
	"precedence":                'v',
	"x-priority":                'v',
	"importance":                'v',
	"organization":              'w',
	"authentication-results":    'v',
}

var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

// Tokens returns the distinct tokens of the message read from r (header and
// body, CRLF or LF line ends). It reads r to its end or to its bounds; a
// malformed message yields the tokens read up to where it breaks.
func Tokens(r io.Reader) []string {
	t := tokenizer{seen: make(map[string]struct{}, 512), budget: MaxTextBytes}
	e, err := message.ReadWithOptions(io.LimitReader(r, 64<<20), &message.ReadOptions{MaxHeaderBytes: maxHeader})
	if e == nil || err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return t.out
	}
	t.header(e.Header.Header)
	t.entity(e, 0)
	return t.out
}

type tokenizer struct {
	seen   map[string]struct{}
	out    []string
	budget int // decoded text bytes left
	parts  int
	buf    []byte
	key    []byte // the token being built (wordBytes)
}

func (t *tokenizer) add(tok string) {
	if len(t.out) >= MaxTokens {
		return
	}
	if _, ok := t.seen[tok]; ok {
		return
	}
	t.seen[tok] = struct{}{}
	t.out = append(t.out, tok)
}

func (t *tokenizer) header(h textproto.Header) {
	for f := h.Fields(); f.Next(); {
		key := strings.ToLower(f.Key())
		if labelField(key) {
			continue
		}
		kind, ok := headerKinds[key]
		if !ok {
			continue
		}
		v := f.Value()
		if len(v) > 4096 {
			v = v[:4096]
		}
		if dv, err := wordDecoder.DecodeHeader(v); err == nil {
			v = dv
		}
		switch kind {
		case 'w':
			t.words(key+":", v)
		case 'v':
			t.words(key+":", strings.ToLower(v))
		case 'a':
			t.addresses(key, v)
		case 'r':
			t.received(v)
		case 'm':
			if i := strings.LastIndexByte(v, '@'); i >= 0 {
				t.add("message-id:@" + strings.ToLower(strings.Trim(v[i+1:], "<> \t")))
			}
		}
	}
}

func (t *tokenizer) addresses(key, v string) {
	list, err := mail.ParseAddressList(v)
	if err != nil {
		// Unparseable: its words are still worth something, and so is
		// the fact.
		t.add(key + ":invalid")
		t.words(key+":", strings.ToLower(v))
		return
	}
	for _, a := range list {
		addr := strings.ToLower(a.Address)
		t.add(key + ":" + addr)
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			t.add(key + ":@" + addr[i+1:])
		}
		if a.Name == "" {
			t.add(key + ":noname")
		} else {
			t.words(key+":name:", a.Name)
		}
	}
}

// received takes the host names (the bits with a dot and a letter) and the
// first three octets of IPv4 addresses of a Received field.
func (t *tokenizer) received(v string) {
	for _, w := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
		return !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		w = strings.Trim(w, ".-")
		if strings.Count(w, ".") < 1 || len(w) > 80 {
			continue
		}
		if isIPv4(w) {
			if i := strings.LastIndexByte(w, '.'); i > 0 {
				t.add("received:" + w[:i])
			}
			continue
		}
		t.add("received:" + registeredDomain(w))
	}
}

func isIPv4(s string) bool {
	if strings.Count(s, ".") != 3 {
		return false
	}
	for _, r := range s {
		if r != '.' && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// registeredDomain keeps the last two labels of a host name (three when
// the second-last is short, as in example.co.uk).
func registeredDomain(h string) string {
	parts := strings.Split(h, ".")
	n := 2
	if len(parts) >= 3 && len(parts[len(parts)-2]) <= 3 && len(parts[len(parts)-1]) == 2 {
		n = 3
	}
	if len(parts) <= n {
		return h
	}
	return strings.Join(parts[len(parts)-n:], ".")
}

func (t *tokenizer) entity(e *message.Entity, depth int) {
	t.parts++
	if t.parts > MaxParts || depth > MaxDepth || t.budget <= 0 {
		return
	}
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	t.add("ctype:" + mt)
	if _, dp, err := e.Header.ContentDisposition(); err == nil && dp["filename"] != "" {
		name := strings.ToLower(dp["filename"])
		if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i <= 6 {
			t.add("filename:" + name[i:])
		}
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.add("mime:broken")
				}
				return
			}
			t.entity(p, depth+1)
			if t.parts > MaxParts || t.budget <= 0 {
				return
			}
		}
	}
	if !strings.HasPrefix(mt, "text/") {
		return
	}
	body := e.Body
	if ch := strings.ToLower(params["charset"]); ch != "" && ch != "utf-8" && ch != "us-ascii" {
		t.add("charset:" + ch)
		if message.CharsetReader == nil {
			if r, err := charset.Reader(ch, body); err == nil {
				body = r
			}
		}
	}
	t.buf = t.buf[:0]
	buf := bytes.NewBuffer(t.buf)
	n, _ := buf.ReadFrom(io.LimitReader(body, int64(t.budget)))
	t.budget -= int(n)
	t.buf = buf.Bytes()
	text := t.buf
	if mt == "text/html" {
		text = t.html(text)
	}
	t.text(text)
}

// sepASCII marks the ASCII bytes that separate words (besides white
// space).
var sepASCII = func() (t [128]bool) {
	for _, c := range ".,;:\"()[]{}<>=*|/\\&+_~#" {
		t[c] = true
	}
	return t
}()

func isSpaceASCII(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// nextRun splits b at its first separator (white space, and with seps
// the punctuation of sepASCII): the run before it, and the rest after it.
func nextRun(b []byte, seps bool) (run, rest []byte) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if isSpaceASCII(c) || seps && sepASCII[c] {
				return b[:i], b[i+1:]
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if unicode.IsSpace(r) {
			return b[:i], b[i+n:]
		}
		i += n
	}
	return b, nil
}

// text tokenizes body text: words, URLs' hosts and e-mail addresses'
// domains.
func (t *tokenizer) text(b []byte) {
	for len(b) > 0 {
		var w []byte
		w, b = nextRun(b, false)
		if len(w) > 0 {
			t.word(w)
		}
	}
}

// word tokenizes one blank-separated piece of body text.
func (t *tokenizer) word(w []byte) {
	if bytes.Contains(w, []byte("://")) || len(w) > 4 && strings.EqualFold(string(w[:4]), "www.") {
		t.url(strings.Trim(strings.ToLower(string(w)), `<>()[]"'.,;`))
		return
	}
	if i := bytes.IndexByte(w, '@'); i > 0 && bytes.IndexByte(w[i:], '.') > 0 {
		lw := strings.Trim(strings.ToLower(string(w)), `<>()[]"'.,;:`)
		if j := strings.LastIndexByte(lw, '@'); j >= 0 {
			t.add("email:@" + lw[j+1:])
		}
		return
	}
	t.wordBytes("", w)
}

// words splits s into words and adds them under prefix.
func (t *tokenizer) words(prefix, s string) {
	t.wordBytes(prefix, []byte(s))
}

// wordBytes splits b into words and adds them, lower-cased, under prefix.
func (t *tokenizer) wordBytes(prefix string, b []byte) {
	for len(b) > 0 {
		var w []byte
		w, b = nextRun(b, true)
		for len(w) > 0 && (w[0] == '-' || w[0] == '\'' || w[0] == '?') {
			w = w[1:]
		}
		for len(w) > 0 && (w[len(w)-1] == '-' || w[len(w)-1] == '\'' || w[len(w)-1] == '?') {
			w = w[:len(w)-1]
		}
		n := utf8.RuneCount(w)
		switch {
		case n < minWord:
			continue
		case n > maxWord:
			// A long run: its first letter and length say enough.
			r, _ := utf8.DecodeRune(w)
			if r >= utf8.RuneSelf {
				t.add(prefix + "skip:8bit")
				continue
			}
			t.add(prefix + "skip:" + string(unicode.ToLower(r)) + itoa(n/10*10))
		default:
			t.key = append(append(t.key[:0], prefix...), w...)
			lower(t.key[len(prefix):])
			t.addKey()
		}
	}
}

// lower lower-cases b in place when it is ASCII; other text goes through
// bytes.ToLower.
func lower(b []byte) {
	for i, c := range b {
		if c >= utf8.RuneSelf {
			l := bytes.ToLower(b[i:])
			if len(l) == len(b)-i {
				copy(b[i:], l)
			}
			return
		}
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// addKey adds the token in t.key, allocating only when it is new.
func (t *tokenizer) addKey() {
	if len(t.out) >= MaxTokens {
		return
	}
	if _, ok := t.seen[string(t.key)]; ok {
		return
	}
	tok := string(t.key)
	t.seen[tok] = struct{}{}
	t.out = append(t.out, tok)
}

// url adds a URL's host and its registered domain.
func (t *tokenizer) url(u string) {
	if i := strings.Index(u, "://"); i >= 0 {
		t.add("proto:" + u[:min(i, 10)])
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		t.add("url:userinfo")
		u = u[i+1:]
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		t.add("url:port")
		u = u[:i]
	}
	if u == "" || len(u) > 100 {
		return
	}
	if isIPv4(u) {
		t.add("url:ip")
		return
	}
	t.add("url:" + u)
	if d := registeredDomain(u); d != u {
		t.add("url:" + d)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
