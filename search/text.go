package search

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"petrel/msgtext"
	"petrel/store"
)

// Msg is one message being searched. C and Root are valid only inside the
// read transaction; the decoded text is computed at most once.
type Msg struct {
	// Seq is the message's place in the UIDs searched, from 1 (IMAP's
	// sequence number when those are a view's UIDs).
	Seq  uint32
	Meta *store.Message
	C    *store.Content
	Root *store.Part
	// HeaderEnd is where the top header ends (Root.BodyStart when Root is
	// read).
	HeaderEnd int64
	// Cached are the fields a header cache had, when the search is served
	// from it (no content then): FieldValues of each lower-cased name.
	Cached map[string]string

	hdr      []byte // the top header, copied out
	fields   []HeaderField
	parsed   bool
	body     []byte // the text, lower case
	bodyDone bool
	// scratch, when set, holds the buffers the body is read into, reused
	// from message to message by Run.
	scratch *scratch
}

// scratch are a search's buffers for the text of the message at hand.
type scratch struct{ raw, text []byte }

// HeaderField is one field of a header block.
type HeaderField struct {
	Name    string // as written
	Value   string // unfolded; once decoded: encoded-words decoded, lower case
	decoded bool
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// SplitHeader splits a header block into its fields (msgtext.Fields),
// each value as one line of text, as written. It never fails: a line
// without a colon is a field with no name and an empty value.
func SplitHeader(hdr []byte) []HeaderField {
	var out []HeaderField
	for f := range msgtext.Fields(hdr) {
		out = append(out, HeaderField{Name: string(f.Name), Value: f.Text()})
	}
	return out
}

// Decode turns the value into what a search matches: encoded-words
// decoded, lower case.
func (f *HeaderField) Decode() string {
	if !f.decoded {
		f.decoded = true
		v := f.Value
		if strings.Contains(v, "=?") {
			if d, err := wordDecoder.DecodeHeader(v); err == nil {
				v = d
			}
		}
		f.Value = strings.ToLower(v)
	}
	return f.Value
}

// ParseHeader is SplitHeader with every value decoded.
func ParseHeader(hdr []byte) []HeaderField {
	out := SplitHeader(hdr)
	for i := range out {
		out[i].Decode()
	}
	return out
}

// HeaderContains reports whether a field named name (any field when name
// is "") contains s, case-insensitively after decoding. An empty s matches
// any message that has the field (RFC 9051 6.4.4 HEADER). A named field is
// matched on its FieldValues, from Cached when the search is served from a
// cache: the same values either way.
func (m *Msg) HeaderContains(name, s string) bool {
	s = strings.ToLower(s)
	if name != "" {
		v, ok := m.Cached[strings.ToLower(name)]
		if !ok {
			v = FieldValues(m.header(), name)
		}
		return CachedContains(v, s)
	}
	if !m.parsed {
		m.parsed = true
		m.fields = SplitHeader(m.header())
	}
	for i := range m.fields {
		if strings.Contains(m.fields[i].Decode(), s) {
			return true
		}
	}
	return false
}

// header is the message's top header, copied out once.
func (m *Msg) header() []byte {
	if m.hdr == nil {
		m.hdr = []byte{}
		if m.C != nil {
			m.hdr = m.C.Slice(0, m.HeaderEnd)
		}
	}
	return m.hdr
}

// FieldValues returns every value of the fields of hdr named name
// (case-insensitively), unfolded, encoded-words decoded and lower-cased,
// each preceded by a NUL; "" when there is none. Only those fields' lines
// are unfolded and decoded: the rest of the header is scanned, not copied.
//
// Address fields also get their addresses as RFC 5322 reads them, comments
// dropped ("<user (c)@ (c) example.org>" is found as user@example.org).
func FieldValues(hdr []byte, name string) string {
	var out strings.Builder
	addrs := isAddressField(name)
	EachField(hdr, name, func(value string) { appendFieldValue(&out, value, addrs) })
	return out.String()
}

// FieldValuesOf is FieldValues of each of names (lower case), into out
// (len(names) long), in one pass over the header.
func FieldValuesOf(hdr []byte, names []string, out []string) {
	bs := make([]strings.Builder, len(names))
	for f := range msgtext.Fields(hdr) {
		for i, n := range names {
			if f.Is(n) {
				appendFieldValue(&bs[i], f.Text(), isAddressField(n))
				break
			}
		}
	}
	for i := range names {
		out[i] = bs[i].String()
	}
}

// appendFieldValue appends one field's value to out as FieldValues has it.
func appendFieldValue(out *strings.Builder, value string, addrs bool) {
	f := HeaderField{Value: value}
	dec := f.Decode()
	out.WriteByte(0)
	out.WriteString(dec)
	if addrs {
		for _, a := range store.ParseAddressList(value) {
			if a.Host == "" {
				continue // a group's markers
			}
			addr := strings.ToLower(a.Mailbox + "@" + a.Host)
			if strings.Contains(dec, addr) {
				continue // written so already
			}
			out.WriteByte(0)
			if a.Name != "" {
				n := HeaderField{Value: a.Name}
				out.WriteString(n.Decode())
				out.WriteByte(' ')
			}
			out.WriteString(addr)
		}
	}
}

func isAddressField(name string) bool {
	switch strings.ToLower(name) {
	case "from", "to", "cc", "bcc", "sender", "reply-to":
		return true
	}
	return false
}

// CachedContains is HeaderContains on FieldValues v: s lower case.
func CachedContains(v, s string) bool {
	if v == "" {
		return false // no such field
	}
	return s == "" || strings.Contains(v, s)
}

// EachField calls fn with the value, as one line of text as written, of
// every field of hdr named name (case-insensitively), as SplitHeader has
// them.
func EachField(hdr []byte, name string, fn func(value string)) {
	for f := range msgtext.Fields(hdr) {
		if f.Is(name) {
			fn(f.Text())
		}
	}
}

// BodyContains searches the decoded text of the message's text parts,
// case-insensitively.
func (m *Msg) BodyContains(s string) bool {
	if !m.bodyDone {
		m.bodyDone = true
		if m.C != nil && m.Root != nil {
			sc := m.scratch
			if sc == nil {
				sc = &scratch{}
			}
			sc.text = appendText(sc.text[:0], sc, m.C, m.Root, 0)
			m.body = sc.text
		}
	}
	return bytes.Contains(m.body, []byte(strings.ToLower(s)))
}

// appendText appends the decoded text of p's text/* leaves to dst, lower
// case, each followed by a line end.
func appendText(dst []byte, sc *scratch, c *store.Content, p *store.Part, depth int) []byte {
	if depth > 64 {
		return dst
	}
	switch {
	case p.Type == "multipart" && len(p.Parts) > 0:
		for _, ch := range p.Parts {
			dst = appendText(dst, sc, c, ch, depth+1)
		}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && len(p.Parts) == 1:
		dst = appendText(dst, sc, c, p.Parts[0], depth+1)
	case p.Type == "text":
		n := max(min(p.Size(), c.Size()-p.BodyStart), 0)
		if int64(cap(sc.raw)) < n {
			sc.raw = make([]byte, n)
		}
		raw := sc.raw[:n]
		c.ReadAt(raw, p.BodyStart)
		dec, err := DecodeCTE(raw, p.Encoding)
		if err != nil {
			dec = raw
		}
		dst = appendLower(dst, dec, p.Params["charset"])
		dst = append(dst, '\n')
	}
	return dst
}

// appendLower appends text in charset cs to dst as lower-case UTF-8: what
// strings.ToLower(ToUTF8(b, cs)) gives, without copies for ASCII.
func appendLower(dst, b []byte, cs string) []byte {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		return append(dst, strings.ToLower(ToUTF8(b, cs))...)
	}
	switch strings.ToLower(cs) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	default:
		// A charset that is not ASCII-compatible (UTF-16, UTF-7) is
		// converted even when its bytes are ASCII.
		return append(dst, strings.ToLower(ToUTF8(b, cs))...)
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// SentDate is the message's Date field, else its arrival.
func (m *Msg) SentDate() time.Time {
	if m.Root != nil && m.Root.Envelope != nil && !m.Root.Envelope.Date.IsZero() {
		return m.Root.Envelope.Date
	}
	return m.Meta.InternalDate.UTC()
}

// ToUTF8 converts text in a MIME charset to UTF-8 with go-message's
// charset tables (every charset mail uses, windows-1252's 0x80–0x9F
// included); text in a charset it does not know, or not valid in its own,
// is matched as far as it is UTF-8.
func ToUTF8(b []byte, cs string) string {
	switch strings.ToLower(cs) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	default:
		if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
			if out, err := io.ReadAll(r); err == nil {
				b = out
			}
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// charsetReader lets the encoded-word decoder handle the same charsets.
func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(ToUTF8(b, cs)), nil
}

// ErrUnknownCTE is DecodeCTE's answer for an encoding it does not know.
var ErrUnknownCTE = errors.New("unknown Content-Transfer-Encoding")

// DecodeCTE undoes a Content-Transfer-Encoding.
func DecodeCTE(raw []byte, enc string) ([]byte, error) {
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary":
		return raw, nil
	case "base64":
		// Mail wraps base64 in lines; the decoder below skips line breaks
		// and stops at the first bad byte, as mail readers do.
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, newlineSkipper{bytes.NewReader(raw)}))
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil && len(b) == 0 {
			return nil, fmt.Errorf("quoted-printable: %w", err)
		}
		return b, nil
	}
	return nil, ErrUnknownCTE
}

// newlineSkipper drops CR, LF, spaces and tabs so base64 can be decoded
// across lines.
type newlineSkipper struct{ r io.Reader }

func (n newlineSkipper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, b := range p[:k] {
			if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
