package imap

import (
	"bufio"
	"bytes"
	"mime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// The ENVELOPE and BODYSTRUCTURE writers write from the store's decoded
// structure. The oracle below is how they were written before (the
// structure turned into go-imap's types, then written), kept to prove the
// bytes are the same: FuzzSections compares the two on every input, and
// TestStructureWritersAsBefore on messages with every field set.

func oracleBodyStructure(p *store.Part) imap.BodyStructure {
	if isMultipart(p) {
		mp := &imap.BodyStructureMultiPart{
			Subtype: p.Subtype,
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: oracleDisposition(p),
				Language:    p.Language,
				Location:    p.Location,
			},
		}
		for _, c := range p.Parts {
			mp.Children = append(mp.Children, oracleBodyStructure(c))
		}
		return mp
	}
	typ, sub := p.Type, p.Subtype
	if typ == "" || sub == "" {
		typ, sub = "text", "plain"
	}
	sp := &imap.BodyStructureSinglePart{
		Type: typ, Subtype: sub, Params: p.Params, ID: p.ID, Description: p.Description,
		Encoding: strings.ToUpper(p.Encoding),
		Size:     uint32(min(p.Size(), 1<<32-1)),
		Extended: &imap.BodyStructureSinglePartExt{Disposition: oracleDisposition(p), Language: p.Language, Location: p.Location},
	}
	switch {
	case isMessage(p):
		inner := p.Parts[0]
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope: oracleEnvelope(inner.Envelope), BodyStructure: oracleBodyStructure(inner), NumLines: p.Lines,
		}
	case typ == "text":
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	return sp
}

func oracleDisposition(p *store.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispositionParams}
}

func oracleEnvelope(e *store.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	addrs := func(l []store.Address) []imap.Address {
		if len(l) == 0 {
			return nil
		}
		out := make([]imap.Address, len(l))
		for i, a := range l {
			out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
		}
		return out
	}
	return &imap.Envelope{Date: e.Date, Subject: e.Subject, From: addrs(e.From), Sender: addrs(e.Sender),
		ReplyTo: addrs(e.ReplyTo), To: addrs(e.To), Cc: addrs(e.Cc), Bcc: addrs(e.Bcc),
		InReplyTo: e.InReplyTo, MessageID: e.MessageID}
}

// oracleWriter writes go-imap's types as the server did.
type oracleWriter struct {
	b    *bytes.Buffer
	utf8 bool
}

func (o *oracleWriter) raw(s string) *oracleWriter { o.b.WriteString(s); return o }
func (o *oracleWriter) sp() *oracleWriter          { return o.raw(" ") }
func (o *oracleWriter) nil() *oracleWriter         { return o.raw("NIL") }

func (o *oracleWriter) str(s string) *oracleWriter {
	quotable := len(s) <= 1024
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c == '\r' || c == '\n' || c >= 0x80 && !o.utf8 {
			quotable = false
		}
	}
	if !quotable {
		return o.raw("{" + strconv.Itoa(len(s)) + "}\r\n" + s)
	}
	o.b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			o.b.WriteByte('\\')
		}
		o.b.WriteByte(s[i])
	}
	o.b.WriteByte('"')
	return o
}

func (o *oracleWriter) nstr(s string) *oracleWriter {
	if s == "" {
		return o.nil()
	}
	return o.str(s)
}

func (o *oracleWriter) envelope(env *imap.Envelope) *oracleWriter {
	sender, replyTo := env.Sender, env.ReplyTo
	if sender == nil {
		sender = env.From
	}
	if replyTo == nil {
		replyTo = env.From
	}
	o.raw("(")
	if env.Date.IsZero() {
		o.nil()
	} else {
		o.str(env.Date.Format(envelopeDateLayout))
	}
	o.sp().nstr(mime.QEncoding.Encode("utf-8", env.Subject))
	for _, l := range [][]imap.Address{env.From, sender, replyTo, env.To, env.Cc, env.Bcc} {
		o.sp()
		if len(l) == 0 {
			o.nil()
			continue
		}
		o.raw("(")
		for _, a := range l {
			o.raw("(")
			if a.Host == "" {
				o.nil().sp().nil().sp().nstr(a.Mailbox).sp().nil()
			} else {
				o.nstr(mime.QEncoding.Encode("utf-8", a.Name)).sp().nil().sp().nstr(a.Mailbox).sp().nstr(a.Host)
			}
			o.raw(")")
		}
		o.raw(")")
	}
	o.sp()
	if len(env.InReplyTo) > 0 {
		o.str("<" + strings.Join(env.InReplyTo, "> <") + ">")
	} else {
		o.nil()
	}
	o.sp()
	if env.MessageID != "" {
		o.str("<" + env.MessageID + ">")
	} else {
		o.nil()
	}
	return o.raw(")")
}

func (o *oracleWriter) params(m map[string]string) *oracleWriter {
	if len(m) == 0 {
		return o.nil()
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	o.raw("(")
	for i, k := range keys {
		if i > 0 {
			o.sp()
		}
		o.str(k).sp().str(m[k])
	}
	return o.raw(")")
}

func (o *oracleWriter) disposition(d *imap.BodyStructureDisposition) *oracleWriter {
	if d == nil {
		return o.nil()
	}
	return o.raw("(").str(d.Value).sp().params(d.Params).raw(")")
}

func (o *oracleWriter) langs(l []string) *oracleWriter {
	if len(l) == 0 {
		return o.nil()
	}
	o.raw("(")
	for i, s := range l {
		if i > 0 {
			o.sp()
		}
		o.str(s)
	}
	return o.raw(")")
}

func (o *oracleWriter) bodyStructure(bs imap.BodyStructure, ext bool) *oracleWriter {
	o.raw("(")
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		o.str(bs.Type).sp().str(bs.Subtype).sp().params(bs.Params).sp()
		o.nstr(bs.ID).sp().nstr(bs.Description).sp()
		if bs.Encoding == "" {
			o.str("7bit")
		} else {
			o.str(strings.ToLower(bs.Encoding))
		}
		o.sp().raw(strconv.FormatUint(uint64(bs.Size), 10))
		if msg := bs.MessageRFC822; msg != nil {
			o.sp().envelope(msg.Envelope).sp().bodyStructure(msg.BodyStructure, ext).sp().raw(strconv.FormatInt(msg.NumLines, 10))
		} else if t := bs.Text; t != nil {
			o.sp().raw(strconv.FormatInt(t.NumLines, 10))
		}
		if ext && bs.Extended != nil {
			x := bs.Extended
			o.sp().nil().sp().disposition(x.Disposition).sp().langs(x.Language).sp().nstr(x.Location)
		}
	case *imap.BodyStructureMultiPart:
		for _, c := range bs.Children {
			o.bodyStructure(c, ext)
		}
		o.sp().str(bs.Subtype)
		if ext && bs.Extended != nil {
			x := bs.Extended
			o.sp().params(x.Params).sp().disposition(x.Disposition).sp().langs(x.Language).sp().nstr(x.Location)
		}
	}
	return o.raw(")")
}

// checkStructureWriters fails t where the writers' bytes differ from the
// oracle's, for BODY, BODYSTRUCTURE and ENVELOPE, in both string modes.
func checkStructureWriters(t *testing.T, root *store.Part) {
	t.Helper()
	for _, utf8 := range []bool{false, true} {
		type writeFn struct {
			name   string
			got    func(e *enc)
			oracle func(o *oracleWriter)
		}
		for _, w := range []writeFn{
			{"BODY", func(e *enc) { e.bodyStructure(root, false) }, func(o *oracleWriter) { o.bodyStructure(oracleBodyStructure(root), false) }},
			{"BODYSTRUCTURE", func(e *enc) { e.bodyStructure(root, true) }, func(o *oracleWriter) { o.bodyStructure(oracleBodyStructure(root), true) }},
			{"ENVELOPE", func(e *enc) { e.envelope(root.Envelope) }, func(o *oracleWriter) { o.envelope(oracleEnvelope(root.Envelope)) }},
		} {
			var got, want bytes.Buffer
			bw := bufio.NewWriterSize(&got, 16) // small: formatting must not rely on free space
			w.got(&enc{w: bw, utf8: utf8})
			bw.Flush()
			w.oracle(&oracleWriter{b: &want, utf8: utf8})
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%s (utf8 %v):\n got %q\nwant %q", w.name, utf8, got.Bytes(), want.Bytes())
			}
		}
	}
}

// TestStructureWritersAsBefore: messages with every field the writers
// touch (parameters, dispositions, languages, locations, an encapsulated
// message, groups, quotes and backslashes, 8-bit text, odd encodings)
// are written as the oracle writes them.
func TestStructureWritersAsBefore(t *testing.T) {
	for _, msg := range []string{
		fuzzSeedMsg,
		"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nFrom: \"Dr. \\\"Q\\\" Smith\" <q@example.org>, Team: a@x, b@y;\r\nSender: s@example.org\r\nReply-To: r@example.org\r\nTo: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\nCc: c@example.org\r\nBcc: undisclosed-recipients:;\r\nSubject: \"quoted\" and \\back\\slashed\r\nIn-Reply-To: <a@x> <b\"@y>\r\nMessage-ID: <id\"with\\odd@example.org>\r\nContent-Type: multipart/mixed; boundary=\"b1\"; charset=\"us-ascii\"\r\nContent-Disposition: inline; foo=bar\r\nContent-Language: en, de\r\nContent-Location: http://example.org/x\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-ID: <part1@x>\r\nContent-Description: The \"text\"\r\nContent-Transfer-Encoding: QUOTED-PRINTABLE\r\nContent-Language: fr\r\n\r\ncaf=C3=A9\r\n--b1\r\nContent-Type: application/octet-stream; name=\"a b.bin\"\r\nContent-Disposition: attachment; filename=\"a b.bin\"; size=3\r\nContent-Transfer-Encoding: Base64\r\n\r\nAAEC\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: =?iso-8859-1?q?=E9t=E9?=\r\nDate: Mon, 02 Jan 2006 15:04:05 -0700\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bıt\r\n\r\nx\r\n--b1--\r\n",
		"Subject: caf\xc3\xa9 \xff\r\nFrom: \xc3\xa9 <e@x>\r\nMessage-ID: <" + strings.Repeat("m", 1100) + "@x>\r\n\r\nbody\r\n",
		"no header at all",
		"",
	} {
		checkStructureWriters(t, store.ParseStructure([]byte(msg)))
	}
}
