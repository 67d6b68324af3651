package imap

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"petrel/msgtext"
	"petrel/store"
)

// msgCtx is one message being searched. c and root are valid only inside
// the read transaction; the decoded text is computed at most once.
type msgCtx struct {
	seq  uint32
	meta *store.Message
	c    *store.Content
	root *store.Part
	// headerEnd is where the top header ends (root.BodyStart when root is
	// read).
	headerEnd int64
	// cached are the fields the mailbox's headerCache had, when the search
	// is served from it (no content then).
	cached map[string]string

	hdr      []byte // the top header, copied out
	fields   []headerField
	parsed   bool
	body     string
	bodyDone bool
}

type headerField struct {
	name    string // as written
	value   string // unfolded; once decoded: encoded-words decoded, lower case
	decoded bool
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// splitHeader splits a header block into its fields (msgtext.Fields),
// each value as one line of text, as written. It never fails: a line
// without a colon is a field with no name and an empty value.
func splitHeader(hdr []byte) []headerField {
	var out []headerField
	for f := range msgtext.Fields(hdr) {
		out = append(out, headerField{name: string(f.Name), value: f.Text()})
	}
	return out
}

// decode turns the value into what SEARCH matches: encoded-words decoded,
// lower case.
func (f *headerField) decode() string {
	if !f.decoded {
		f.decoded = true
		v := f.value
		if strings.Contains(v, "=?") {
			if d, err := wordDecoder.DecodeHeader(v); err == nil {
				v = d
			}
		}
		f.value = strings.ToLower(v)
	}
	return f.value
}

// parseHeader is splitHeader with every value decoded.
func parseHeader(hdr []byte) []headerField {
	out := splitHeader(hdr)
	for i := range out {
		out[i].decode()
	}
	return out
}

// headerContains reports whether a field named name (any field when name
// is "") contains s, case-insensitively after decoding. An empty s matches
// any message that has the field (RFC 9051 6.4.4 HEADER). A named field is
// matched on its fieldValues, from the mailbox's headerCache when the
// search is served from it: the same values either way.
func (m *msgCtx) headerContains(name, s string) bool {
	s = strings.ToLower(s)
	if name != "" {
		v, ok := m.cached[strings.ToLower(name)]
		if !ok {
			v = fieldValues(m.header(), name)
		}
		return cachedContains(v, s)
	}
	if !m.parsed {
		m.parsed = true
		m.fields = splitHeader(m.header())
	}
	for i := range m.fields {
		if strings.Contains(m.fields[i].decode(), s) {
			return true
		}
	}
	return false
}

// header is the message's top header, copied out once.
func (m *msgCtx) header() []byte {
	if m.hdr == nil {
		m.hdr = []byte{}
		if m.c != nil {
			m.hdr = m.c.Slice(0, m.headerEnd)
		}
	}
	return m.hdr
}

// fieldValues returns every value of the fields of hdr named name
// (case-insensitively), unfolded, encoded-words decoded and lower-cased,
// each preceded by a NUL; "" when there is none. Only those fields' lines
// are unfolded and decoded: the rest of the header is scanned, not copied.
//
// Address fields also get their addresses as RFC 5322 reads them, comments
// dropped ("<user (c)@ (c) example.org>" is found as user@example.org).
func fieldValues(hdr []byte, name string) string {
	var out strings.Builder
	addrs := isAddressField(name)
	eachField(hdr, name, func(value string) {
		f := headerField{value: value}
		dec := f.decode()
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
					n := headerField{value: a.Name}
					out.WriteString(n.decode())
					out.WriteByte(' ')
				}
				out.WriteString(addr)
			}
		}
	})
	return out.String()
}

func isAddressField(name string) bool {
	switch strings.ToLower(name) {
	case "from", "to", "cc", "bcc", "sender", "reply-to":
		return true
	}
	return false
}

// cachedContains is headerContains on fieldValues.
func cachedContains(v, s string) bool {
	if v == "" {
		return false // no such field
	}
	return s == "" || strings.Contains(v, s)
}

// eachField calls fn with the value, as one line of text as written, of
// every field of hdr named name (case-insensitively), as splitHeader has
// them.
func eachField(hdr []byte, name string, fn func(value string)) {
	for f := range msgtext.Fields(hdr) {
		if f.Is(name) {
			fn(f.Text())
		}
	}
}

// bodyContains searches the decoded text of the message's text parts.
func (m *msgCtx) bodyContains(s string) bool {
	if !m.bodyDone {
		m.bodyDone = true
		if m.c != nil && m.root != nil {
			var b strings.Builder
			appendText(&b, m.c, m.root, 0)
			m.body = strings.ToLower(b.String())
		}
	}
	return strings.Contains(m.body, strings.ToLower(s))
}

// appendText writes the decoded text of p's text/* leaves.
func appendText(b *strings.Builder, c *store.Content, p *store.Part, depth int) {
	if depth > 64 {
		return
	}
	switch {
	case isMultipart(p):
		for _, ch := range p.Parts {
			appendText(b, c, ch, depth+1)
		}
	case isMessage(p):
		appendText(b, c, p.Parts[0], depth+1)
	case p.Type == "text":
		raw := c.Slice(p.BodyStart, p.Size())
		dec, err := decodeCTE(raw, p.Encoding)
		if err != nil {
			dec = raw
		}
		b.WriteString(toUTF8(dec, p.Params["charset"]))
		b.WriteByte('\n')
	}
}

func (m *msgCtx) sentDate() time.Time {
	if m.root != nil && m.root.Envelope != nil && !m.root.Envelope.Date.IsZero() {
		return m.root.Envelope.Date
	}
	return m.meta.InternalDate.UTC()
}

// toUTF8 converts text in a MIME charset to UTF-8 with go-message's
// charset tables (every charset mail uses, windows-1252's 0x80–0x9F
// included); text in a charset it does not know, or not valid in its own,
// is matched as far as it is UTF-8.
func toUTF8(b []byte, cs string) string {
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
	return strings.NewReader(toUTF8(b, cs)), nil
}
