package imap

import (
	"bufio"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// enc writes IMAP responses (RFC 9051 7, 9) to a bufio.Writer, which the
// session flushes to its corkConn before every read. Write errors are
// sticky in the bufio.Writer and surface at the next flush.
type enc struct {
	w *bufio.Writer
	// utf8: the client enabled UTF8=ACCEPT or IMAP4rev2, so quoted strings
	// may hold UTF-8 and mailbox names are sent as UTF-8.
	utf8 bool
}

func (e *enc) raw(s string) *enc { e.w.WriteString(s); return e }
func (e *enc) byte(c byte) *enc  { e.w.WriteByte(c); return e }
func (e *enc) sp() *enc          { return e.byte(' ') }
func (e *enc) crlf() *enc        { return e.raw("\r\n") }

// num and num64 format into the writer's free space (no string made).
func (e *enc) num(n uint32) *enc {
	e.w.Write(strconv.AppendUint(e.w.AvailableBuffer(), uint64(n), 10))
	return e
}

func (e *enc) num64(n int64) *enc {
	e.w.Write(strconv.AppendInt(e.w.AvailableBuffer(), n, 10))
	return e
}

func (e *enc) nil() *enc { return e.raw("NIL") }

// quotable: s can be sent as a quoted string.
func (e *enc) quotable(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case c >= 0x80 && !e.utf8:
			return false
		}
	}
	return true
}

// str writes a string: quoted when it can be, else a literal.
func (e *enc) str(s string) *enc {
	if !e.quotable(s) {
		return e.literal([]byte(s))
	}
	e.w.WriteByte('"')
	e.quoted(s)
	e.w.WriteByte('"')
	return e
}

// strIn writes open+s+close as one string, as str would, without making
// it first (open and close are plain ASCII without quotes or backslashes).
func (e *enc) strIn(open, s, close string) *enc {
	if len(open)+len(s)+len(close) > 1024 || !e.quotable(s) {
		return e.str(open + s + close)
	}
	e.w.WriteByte('"')
	e.w.WriteString(open)
	e.quoted(s)
	e.w.WriteString(close)
	e.w.WriteByte('"')
	return e
}

// quoted writes the inside of a quoted string: s with '"' and '\\'
// escaped.
func (e *enc) quoted(s string) {
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			e.w.WriteString(s)
			return
		}
		e.w.WriteString(s[:i])
		e.w.WriteByte('\\')
		e.w.WriteByte(s[i])
		s = s[i+1:]
	}
}

func (e *enc) nstr(s string) *enc {
	if s == "" {
		return e.nil()
	}
	return e.str(s)
}

// literal writes {n}CRLF and the octets.
func (e *enc) literal(b []byte) *enc {
	e.raw("{").num64(int64(len(b))).raw("}\r\n")
	e.w.Write(b)
	return e
}

// literal8 writes ~{n}CRLF and the octets (RFC 3516).
func (e *enc) literal8(b []byte) *enc {
	e.byte('~')
	return e.literal(b)
}

// mailbox writes a mailbox name: INBOX as an atom, others quoted, in
// modified UTF-7 unless the client takes UTF-8.
func (e *enc) mailbox(name string) *enc {
	if strings.EqualFold(name, "INBOX") {
		return e.raw("INBOX")
	}
	if e.utf8 {
		return e.str(name)
	}
	return e.str(utf7Encode(name))
}

func (e *enc) flags(flags []imap.Flag) *enc { return writeFlags(e, flags, false) }

// writeFlags writes a flag list, with \Recent last when recent.
func writeFlags[F ~string](e *enc, flags []F, recent bool) *enc {
	e.byte('(')
	for i, f := range flags {
		if i > 0 {
			e.sp()
		}
		e.raw(string(f))
	}
	if recent {
		if len(flags) > 0 {
			e.sp()
		}
		e.raw(string(flagRecent))
	}
	return e.byte(')')
}

func (e *enc) attrs(attrs []imap.MailboxAttr) *enc {
	e.byte('(')
	for i, a := range attrs {
		if i > 0 {
			e.sp()
		}
		e.raw(string(a))
	}
	return e.byte(')')
}

// status writes a tagged or untagged status response line.
func (e *enc) status(tag string, r *imap.StatusResponse) *enc {
	if tag == "" {
		tag = "*"
	}
	e.raw(tag).sp().raw(string(r.Type))
	if r.Code != "" {
		e.raw(" [").raw(string(r.Code)).raw("]")
	}
	text := r.Text
	if text == "" {
		text = string(r.Type)
	}
	return e.sp().raw(sanitizeText(text)).crlf()
}

// sanitizeText keeps a human-readable text on one line.
func sanitizeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

const (
	envelopeDateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"
	dateTimeLayout     = "02-Jan-2006 15:04:05 -0700"
)

func (e *enc) envelope(env *imap.Envelope) *enc {
	if env == nil {
		env = new(imap.Envelope)
	}
	sender, replyTo := env.Sender, env.ReplyTo
	if sender == nil {
		sender = env.From
	}
	if replyTo == nil {
		replyTo = env.From
	}
	e.byte('(')
	if env.Date.IsZero() {
		e.nil()
	} else {
		e.quotedTime(env.Date, envelopeDateLayout)
	}
	e.sp().nstr(mime.QEncoding.Encode("utf-8", env.Subject))
	for _, l := range [][]imap.Address{env.From, sender, replyTo, env.To, env.Cc, env.Bcc} {
		e.sp().addresses(l)
	}
	e.sp()
	if len(env.InReplyTo) > 0 {
		e.str("<" + strings.Join(env.InReplyTo, "> <") + ">")
	} else {
		e.nil()
	}
	e.sp()
	if env.MessageID != "" {
		e.strIn("<", env.MessageID, ">")
	} else {
		e.nil()
	}
	return e.byte(')')
}

// addresses writes an address list. An address without a host marks a
// group (RFC 3501 7.4.2): its start "(NIL NIL name NIL)" with the group's
// name as the mailbox, its end "(NIL NIL NIL NIL)".
func (e *enc) addresses(l []imap.Address) *enc {
	if len(l) == 0 {
		return e.nil()
	}
	e.byte('(')
	for _, a := range l {
		e.byte('(')
		if a.Host == "" {
			e.nil().sp().nil().sp().nstr(a.Mailbox).sp().nil()
		} else {
			e.nstr(mime.QEncoding.Encode("utf-8", a.Name)).sp().nil().sp().nstr(a.Mailbox).sp().nstr(a.Host)
		}
		e.byte(')')
	}
	return e.byte(')')
}

func (e *enc) bodyStructure(bs imap.BodyStructure, ext bool) *enc {
	e.byte('(')
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		e.str(bs.Type).sp().str(bs.Subtype).sp().params(bs.Params).sp()
		e.nstr(bs.ID).sp().nstr(bs.Description).sp()
		if bs.Encoding == "" {
			e.str("7bit")
		} else {
			e.str(strings.ToLower(bs.Encoding))
		}
		e.sp().num(bs.Size)
		if msg := bs.MessageRFC822; msg != nil {
			e.sp().envelope(msg.Envelope).sp().bodyStructure(msg.BodyStructure, ext).sp().num64(msg.NumLines)
		} else if t := bs.Text; t != nil {
			e.sp().num64(t.NumLines)
		}
		if ext && bs.Extended != nil {
			x := bs.Extended
			e.sp().nil().sp().disposition(x.Disposition).sp().langs(x.Language).sp().nstr(x.Location)
		}
	case *imap.BodyStructureMultiPart:
		for _, c := range bs.Children {
			e.bodyStructure(c, ext)
		}
		e.sp().str(bs.Subtype)
		if ext && bs.Extended != nil {
			x := bs.Extended
			e.sp().params(x.Params).sp().disposition(x.Disposition).sp().langs(x.Language).sp().nstr(x.Location)
		}
	}
	return e.byte(')')
}

func (e *enc) params(m map[string]string) *enc {
	if len(m) == 0 {
		return e.nil()
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.byte('(')
	for i, k := range keys {
		if i > 0 {
			e.sp()
		}
		e.str(k).sp().str(m[k])
	}
	return e.byte(')')
}

func (e *enc) disposition(d *imap.BodyStructureDisposition) *enc {
	if d == nil {
		return e.nil()
	}
	return e.byte('(').str(d.Value).sp().params(d.Params).byte(')')
}

func (e *enc) langs(l []string) *enc {
	if len(l) == 0 {
		return e.nil()
	}
	e.byte('(')
	for i, s := range l {
		if i > 0 {
			e.sp()
		}
		e.str(s)
	}
	return e.byte(')')
}

// date writes an IMAP date-time, quoted (it never needs escaping).
func (e *enc) date(t time.Time) *enc { return e.quotedTime(t, dateTimeLayout) }

func (e *enc) quotedTime(t time.Time, layout string) *enc {
	b := append(e.w.AvailableBuffer(), '"')
	b = t.AppendFormat(b, layout)
	e.w.Write(append(b, '"'))
	return e
}

// sectionName writes BODY[…]'s section spec and origin (RFC 9051 7.5.2).
func (e *enc) section(part []int, spec imap.PartSpecifier, fields, notFields []string) *enc {
	e.byte('[').raw(partPath(part))
	if spec != imap.PartSpecifierNone {
		if len(part) > 0 {
			e.byte('.')
		}
		e.raw(string(spec))
		l := fields
		switch {
		case len(fields) > 0:
			e.raw(".FIELDS")
		case len(notFields) > 0:
			e.raw(".FIELDS.NOT")
			l = notFields
		}
		if len(l) > 0 {
			e.raw(" (")
			for i, f := range l {
				if i > 0 {
					e.sp()
				}
				e.str(f)
			}
			e.byte(')')
		}
	}
	return e.byte(']')
}

func partPath(part []int) string {
	s := make([]string, len(part))
	for i, n := range part {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ".")
}

// numSetString writes a non-empty set as IMAP does ("1:3,5").
func numSetString(set imap.NumSet) string { return fmt.Sprint(set) }
