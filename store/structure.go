package store

import (
	"bufio"
	"bytes"
	"mime"
	"petrel/msgtext"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Part is one MIME part of a stored message, with the byte offsets IMAP
// needs to serve BODY[…] sections without parsing again. Offsets count from
// the start of the whole message as served (prefix included).
type Part struct {
	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"` // first byte after the blank line ending the header
	End         int64 `json:"e"`

	Type    string            `json:"t"` // lower case, e.g. "text"
	Subtype string            `json:"st"`
	Params  map[string]string `json:"p,omitempty"`

	ID          string `json:"id,omitempty"`
	Description string `json:"desc,omitempty"`
	Encoding    string `json:"enc,omitempty"`
	MD5         string `json:"md5,omitempty"`

	Disposition       string            `json:"disp,omitempty"`
	DispositionParams map[string]string `json:"dispp,omitempty"`
	Language          []string          `json:"lang,omitempty"`
	Location          string            `json:"loc,omitempty"`

	// Lines is the number of lines of the body, for text/* and message/rfc822.
	Lines int64 `json:"l,omitempty"`

	// Parts are the children of a multipart, or the single encapsulated
	// message of a message/rfc822 part.
	Parts []*Part `json:"parts,omitempty"`

	// Envelope is set on the top part and on message/rfc822 children.
	Envelope *Envelope `json:"env,omitempty"`
}

// Size is the length of the part's body.
func (p *Part) Size() int64 { return p.End - p.BodyStart }

// Envelope holds the header fields of IMAP's ENVELOPE, decoded to UTF-8.
type Envelope struct {
	Date      time.Time `json:"date,omitzero"`
	Subject   string    `json:"subject,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"reply_to,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo []string  `json:"in_reply_to,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
}

// Address is one mailbox of an address list.
type Address struct {
	Name    string `json:"n,omitempty"`
	Mailbox string `json:"m"`
	Host    string `json:"h"`
}

// Limits on what the parser descends into; deeper or further parts are
// served as opaque bodies. They bound the work a hostile message can cause.
const (
	maxPartDepth = 64
	maxParts     = 10000
	maxHeaderLen = 1 << 20
)

// ParseStructure parses a message's MIME structure. Offsets are relative to
// msg. It never fails: what cannot be parsed is treated as text/plain.
func ParseStructure(msg []byte) *Part {
	p := &parser{msg: msg}
	return p.part(0, int64(len(msg)), "text", "plain", 0, true)
}

type parser struct {
	msg   []byte
	parts int
}

func (p *parser) part(start, end int64, defType, defSub string, depth int, envelope bool) *Part {
	p.parts++
	part := &Part{HeaderStart: start, End: end, Type: defType, Subtype: defSub}
	hdrEnd, bodyStart := headerEnd(p.msg[start:end])
	part.BodyStart = start + bodyStart
	var h textproto.Header
	if hdrEnd > 0 && hdrEnd <= maxHeaderLen {
		// Give ReadHeader the header with its terminating blank line.
		raw := p.msg[start : start+bodyStart]
		if bodyStart == hdrEnd { // no blank line: the message is all header
			raw = append(append([]byte(nil), raw...), "\r\n\r\n"...)
		}
		// A buffer the size of the header (at most 4 KiB), not 4 KiB for
		// each part: every line of raw fits in it.
		h, _ = textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(raw), min(max(len(raw), 16), 4096)))
	}
	if ct := h.Get("Content-Type"); ct != "" {
		if mt, params, err := mime.ParseMediaType(ct); err == nil {
			if i := strings.IndexByte(mt, '/'); i > 0 {
				part.Type, part.Subtype = mt[:i], mt[i+1:]
				part.Params = params
			}
		} else if part.Type == "text" {
			part.Params = map[string]string{"charset": "us-ascii"}
		}
	}
	if part.Type == "text" && part.Params == nil {
		part.Params = map[string]string{"charset": "us-ascii"}
	}
	part.ID = h.Get("Content-Id")
	part.Description = h.Get("Content-Description")
	part.Encoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	part.MD5 = h.Get("Content-Md5")
	part.Location = h.Get("Content-Location")
	if d := h.Get("Content-Disposition"); d != "" {
		if disp, params, err := mime.ParseMediaType(d); err == nil {
			part.Disposition, part.DispositionParams = disp, params
		}
	}
	if l := h.Get("Content-Language"); l != "" {
		for _, s := range strings.Split(l, ",") {
			if s = strings.TrimSpace(s); s != "" {
				part.Language = append(part.Language, s)
			}
		}
	}
	if envelope {
		part.Envelope = parseEnvelope(h)
	}
	body := p.msg[part.BodyStart:end]
	switch {
	case part.Type == "multipart" && part.Params["boundary"] != "" && depth < maxPartDepth:
		childType, childSub := "text", "plain"
		if part.Subtype == "digest" {
			childType, childSub = "message", "rfc822"
		}
		for _, r := range splitMultipart(body, part.Params["boundary"]) {
			if p.parts >= maxParts {
				break
			}
			part.Parts = append(part.Parts, p.part(part.BodyStart+r[0], part.BodyStart+r[1], childType, childSub, depth+1, false))
		}
	case part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global") && depth < maxPartDepth && p.parts < maxParts:
		part.Lines = countLines(body)
		part.Parts = []*Part{p.part(part.BodyStart, end, "text", "plain", depth+1, true)}
	case part.Type == "text":
		part.Lines = countLines(body)
	}
	return part
}

// headerEnd finds the end of the header in b: hdrEnd is the offset just
// past the last header line, bodyStart just past the blank line. Without a
// blank line, the whole of b is header and the body is empty. A part that
// starts with a blank line has an empty header.
func headerEnd(b []byte) (hdrEnd, bodyStart int64) {
	return int64(len(msgtext.HeaderSection(b))), int64(msgtext.BodyStart(b))
}

// splitMultipart returns the [start, end) ranges of the body parts of a
// multipart body, per RFC 2046 5.1.1: the CRLF before a delimiter line
// belongs to the delimiter, and what follows the close-delimiter is epilogue.
func splitMultipart(body []byte, boundary string) [][2]int64 {
	delim := []byte("--" + boundary)
	var ranges [][2]int64
	partStart := int64(-1)
	i := 0
	for i <= len(body) {
		lineEnd := bytes.IndexByte(body[i:], '\n')
		var line []byte
		next := len(body) + 1
		if lineEnd < 0 {
			line = body[i:]
		} else {
			line = body[i : i+lineEnd]
			next = i + lineEnd + 1
		}
		line = bytes.TrimRight(line, "\r")
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			closing := bytes.HasPrefix(rest, []byte("--"))
			if closing {
				rest = rest[2:]
			}
			if len(bytes.TrimRight(rest, " \t")) == 0 {
				if partStart >= 0 {
					end := int64(i)
					// The line break before the delimiter is part of it.
					if end > partStart && body[end-1] == '\n' {
						end--
						if end > partStart && body[end-1] == '\r' {
							end--
						}
					}
					ranges = append(ranges, [2]int64{partStart, end})
				}
				if closing {
					return ranges
				}
				partStart = int64(min(next, len(body)))
			}
		}
		if lineEnd < 0 {
			break
		}
		i = next
	}
	if partStart >= 0 && partStart <= int64(len(body)) {
		// No close-delimiter: the last part runs to the end.
		ranges = append(ranges, [2]int64{partStart, int64(len(body))})
	}
	return ranges
}

func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte{'\n'}))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// headerDate is the message's Date: the RFC 5322 form most mail has is
// tried first, before net/mail's many layouts (each that fails costs an
// allocated error, which APPEND and delivery paid for every message).
func headerDate(h mail.Header) time.Time {
	if v := strings.TrimSpace(h.Get("Date")); v != "" {
		if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", v); err == nil {
			return t
		}
	}
	t, _ := h.Date()
	return t
}

func parseEnvelope(th textproto.Header) *Envelope {
	h := mail.Header{Header: messageHeader(th)}
	env := &Envelope{}
	env.Date = headerDate(h)
	env.Date = sanitizeZone(env.Date)
	if s, err := h.Subject(); err == nil {
		env.Subject = s
	} else {
		env.Subject = h.Get("Subject")
	}
	env.From = addressList(h, "From")
	env.Sender = addressList(h, "Sender")
	env.ReplyTo = addressList(h, "Reply-To")
	env.To = addressList(h, "To")
	env.Cc = addressList(h, "Cc")
	env.Bcc = addressList(h, "Bcc")
	env.InReplyTo, _ = h.MsgIDList("In-Reply-To")
	env.MessageID, _ = h.MessageID()
	return env
}

func addressList(h mail.Header, key string) []Address {
	v := h.Get(key)
	if v == "" {
		return nil
	}
	list := ParseAddressList(v)
	for i := range list {
		if list[i].Name != "" {
			if d, err := nameDecoder.DecodeHeader(list[i].Name); err == nil {
				list[i].Name = d
			}
		}
	}
	return list
}

// nameDecoder decodes RFC 2047 encoded words in display names, in every
// charset go-message knows.
var nameDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// shift moves every offset of the tree by d (the per-copy prefix length);
// the top part's header still starts at 0, since the prefix is header.
func (p *Part) shift(d int64, top bool) *Part {
	c := *p
	if !top {
		c.HeaderStart += d
	}
	c.BodyStart += d
	c.End += d
	if len(p.Parts) > 0 {
		c.Parts = make([]*Part, len(p.Parts))
		for i, ch := range p.Parts {
			c.Parts[i] = ch.shift(d, false)
		}
	}
	return &c
}

// sanitizeZone moves a time whose zone offset is a day or more (a Date
// header's "+2400" parses) to UTC: IMAP's and JSON's time zones stop at
// 23:59.
func sanitizeZone(t time.Time) time.Time {
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return t.UTC()
	}
	return t
}
