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

	"petrel/store"
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
	e.w.Write(strconv.AppendUint(e.free(20), uint64(n), 10))
	return e
}

func (e *enc) num64(n int64) *enc {
	e.w.Write(strconv.AppendInt(e.free(20), n, 10))
	return e
}

// numIn writes before, n and after in one write to the buffer (before and
// after short).
func (e *enc) numIn(before string, n uint32, after string) *enc {
	b := append(e.free(len(before)+10+len(after)), before...)
	b = strconv.AppendUint(b, uint64(n), 10)
	e.w.Write(append(b, after...))
	return e
}

// free is the writer's free space, with room for n octets: when it has
// less, what is buffered is written out first (as it would be once the
// buffer filled), so that formatting into it never allocates.
func (e *enc) free(n int) []byte {
	if e.w.Available() < n {
		e.w.Flush()
	}
	return e.w.AvailableBuffer()
}

func (e *enc) nil() *enc { return e.raw("NIL") }

// quotable: s can be sent as a quoted string; escapes: it then holds
// '"' or '\\', which need escaping. One pass over s.
func (e *enc) quotable(s string) (quotable, escapes bool) {
	if len(s) > 1024 {
		return false, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			escapes = true
		case c == 0 || c == '\r' || c == '\n':
			return false, false
		case c >= 0x80 && !e.utf8:
			return false, false
		}
	}
	return true, escapes
}

// str writes a string: quoted when it can be, else a literal.
func (e *enc) str(s string) *enc {
	ok, escapes := e.quotable(s)
	if !ok {
		return e.literal([]byte(s))
	}
	e.w.WriteByte('"')
	e.quoted(s, escapes)
	e.w.WriteByte('"')
	return e
}

// strIn writes open+s+close as one string, as str would, without making
// it first (open and close are plain ASCII without quotes or backslashes).
func (e *enc) strIn(open, s, close string) *enc {
	ok, escapes := e.quotable(s)
	if len(open)+len(s)+len(close) > 1024 || !ok {
		return e.str(open + s + close)
	}
	e.w.WriteByte('"')
	e.w.WriteString(open)
	e.quoted(s, escapes)
	e.w.WriteString(close)
	e.w.WriteByte('"')
	return e
}

// quoted writes the inside of a quoted string: s with '"' and '\\'
// escaped (if it has any: escapes).
func (e *enc) quoted(s string, escapes bool) {
	if !escapes {
		e.w.WriteString(s)
		return
	}
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

// envelope writes a message's ENVELOPE (RFC 9051 7.5.2) from what the
// store decoded; nil is a message without one (every field NIL).
func (e *enc) envelope(env *store.Envelope) *enc {
	if env == nil {
		env = &store.Envelope{}
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
	for _, l := range [...][]store.Address{env.From, sender, replyTo, env.To, env.Cc, env.Bcc} {
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
func (e *enc) addresses(l []store.Address) *enc {
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

// bodyStructure writes BODY (ext false) or BODYSTRUCTURE (RFC 9051 7.5.2)
// from the store's MIME tree, with the extension data for BODYSTRUCTURE
// (MD5 always NIL). A part without a type is text/plain.
func (e *enc) bodyStructure(p *store.Part, ext bool) *enc {
	e.byte('(')
	if isMultipart(p) {
		for _, c := range p.Parts {
			e.bodyStructure(c, ext)
		}
		e.sp().str(p.Subtype)
		if ext {
			e.sp().params(p.Params).sp().disposition(p).sp().langs(p.Language).sp().nstr(p.Location)
		}
		return e.byte(')')
	}
	typ, sub := p.Type, p.Subtype
	if typ == "" || sub == "" {
		typ, sub = "text", "plain"
	}
	e.str(typ).sp().str(sub).sp().params(p.Params).sp()
	e.nstr(p.ID).sp().nstr(p.Description).sp()
	switch {
	case p.Encoding == "":
		e.str("7bit")
	case isASCII(p.Encoding):
		e.str(strings.ToLower(p.Encoding))
	default:
		e.str(strings.ToLower(strings.ToUpper(p.Encoding)))
	}
	e.sp().num(uint32(min(p.Size(), 1<<32-1)))
	switch {
	case isMessage(p):
		inner := p.Parts[0]
		e.sp().envelope(inner.Envelope).sp().bodyStructure(inner, ext).sp().num64(p.Lines)
	case typ == "text":
		e.sp().num64(p.Lines)
	}
	if ext {
		e.sp().nil().sp().disposition(p).sp().langs(p.Language).sp().nstr(p.Location)
	}
	return e.byte(')')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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

// disposition writes a part's Content-Disposition, NIL without one.
func (e *enc) disposition(p *store.Part) *enc {
	if p.Disposition == "" {
		return e.nil()
	}
	return e.byte('(').str(p.Disposition).sp().params(p.DispositionParams).byte(')')
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
	b := append(e.free(64), '"')
	b = appendTime(b, t, layout)
	e.w.Write(append(b, '"'))
	return e
}

// appendTime is t.AppendFormat(b, layout) made faster for IMAP's two
// layouts (envelopeDateLayout, dateTimeLayout) and years of four digits:
// FETCH writes one or two dates per message.
func appendTime(b []byte, t time.Time, layout string) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 || layout != envelopeDateLayout && layout != dateTimeLayout {
		return t.AppendFormat(b, layout)
	}
	two := func(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }
	if layout == envelopeDateLayout { // Mon, 02 Jan 2006 15:04:05 -0700
		b = append(b, t.Weekday().String()[:3]...)
		b = append(b, ", "...)
		b = append(two(b, day), ' ')
		b = append(append(b, month.String()[:3]...), ' ')
	} else { // 02-Jan-2006 15:04:05 -0700
		b = append(two(b, day), '-')
		b = append(append(b, month.String()[:3]...), '-')
	}
	b = two(two(b, year/100), year%100)
	hour, minute, sec := t.Clock()
	b = append(two(append(two(append(two(append(b, ' '), hour), ':'), minute), ':'), sec), ' ')
	_, offset := t.Zone()
	zone := offset / 60 // minutes, as time's -0700 truncates
	if zone < 0 {
		b = append(b, '-')
		zone = -zone
	} else {
		b = append(b, '+')
	}
	return two(two(b, zone/60), zone%60)
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
