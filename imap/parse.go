package imap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// The command reader (RFC 9051 9, RFC 3501 9): it reads one command from
// the connection as it parses, so that a literal's continuation request is
// sent exactly when the client waits for it, and stops at the first
// syntax error with a syntaxError, which the session answers with BAD. The
// whole command, literals included, is bounded by maxCommandSize, except
// APPEND's message, which is read by the APPEND handler under its own limit.

const (
	maxCommandSize = 64 << 10 // RFC 2683 3.2.1.5 asks for at least 8000 octets
	cmdReadTimeout = 30 * time.Second
	literalTimeout = 5 * time.Minute
)

// syntaxError is a client's malformed command: BAD, and the session goes on.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func badSyntax(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}

// errTooLong ends a session whose command outgrows maxCommandSize.
var errTooLong = errors.New("command too long")

// parser reads one command from br.
type parser struct {
	br *bufio.Reader
	n  int // octets of this command read so far
	// eol: the command's line end has been read (the rest of the line
	// needs no discarding after an error).
	eol bool
	// cont writes a continuation request for a synchronising literal.
	cont func(text string) error
	// ioErr is the connection's failure, if a read failed: the session ends.
	ioErr error
	// utf8: the client enabled UTF8=ACCEPT or IMAP4rev2: mailbox names
	// are UTF-8 as they are, "&" included (RFC 6855 3, RFC 9051 5.1).
	utf8 bool
}

func (p *parser) peek() (byte, error) {
	b, err := p.br.Peek(1)
	if err != nil {
		p.ioErr = err
		return 0, err
	}
	return b[0], nil
}

func (p *parser) next() (byte, error) {
	if p.n >= maxCommandSize {
		return 0, errTooLong
	}
	c, err := p.br.ReadByte()
	if err != nil {
		p.ioErr = err
		return 0, err
	}
	p.n++
	if c == '\n' {
		p.eol = true
	}
	return c, nil
}

// accept consumes c if it is next.
func (p *parser) accept(c byte) (bool, error) {
	b, err := p.peek()
	if err != nil {
		return false, err
	}
	if b != c {
		return false, nil
	}
	_, err = p.next()
	return err == nil, err
}

func (p *parser) expect(c byte, what string) error {
	b, err := p.peek()
	if err != nil {
		return err
	}
	if b != c {
		if b == '\r' || b == '\n' {
			return badSyntax("Missing %s", what)
		}
		return badSyntax("Expected %s", what)
	}
	_, err = p.next()
	return err
}

func (p *parser) sp() error { return p.expect(' ', "space") }

// crlf ends the command; a bare LF is accepted too.
func (p *parser) crlf() error {
	b, err := p.peek()
	if err != nil {
		return err
	}
	if b == '\r' {
		p.next()
		if b, err = p.peek(); err != nil {
			return err
		}
	}
	if b != '\n' {
		return badSyntax("Unexpected text at the end of the command")
	}
	_, err = p.next()
	return err
}

// atEnd: the next octet ends the line.
func (p *parser) atEnd() bool {
	b, err := p.peek()
	return err == nil && (b == '\r' || b == '\n')
}

func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x20 && c < 0x7f
}

func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

func isTagChar(c byte) bool { return isAtomChar(c) && c != '+' }

// word reads one or more octets for which ok holds (never CR or LF). It
// takes them from the reader's buffer a run at a time: the word is copied
// once, into its string.
func (p *parser) word(ok func(byte) bool, what string) (string, error) {
	var long []byte // the word so far, when it runs past what is buffered
	for {
		if _, err := p.peek(); err != nil {
			return "", err
		}
		buf, _ := p.br.Peek(p.br.Buffered())
		n := 0
		for n < len(buf) && ok(buf[n]) {
			n++
		}
		if n > 0 && p.n+n >= maxCommandSize { // read up to the limit, no further
			k := max(maxCommandSize-p.n, 0)
			p.br.Discard(k)
			p.n += k
			return "", errTooLong
		}
		if n == len(buf) { // the word may go on past the buffer
			long = append(long, buf...)
			p.br.Discard(n)
			p.n += n
			continue
		}
		var s string
		if long == nil {
			s = string(buf[:n])
		} else {
			s = string(append(long, buf[:n]...))
		}
		p.br.Discard(n)
		p.n += n
		if s == "" {
			if c := buf[0]; c == '\r' || c == '\n' {
				return "", badSyntax("Missing %s", what)
			}
			return "", badSyntax("Expected %s", what)
		}
		return s, nil
	}
}

func (p *parser) atom() (string, error) { return p.word(isAtomChar, "atom") }

// flag reads a flag: an atom, or "\" and an atom ("\*" too).
func (p *parser) flag() (string, error) {
	bs, err := p.accept('\\')
	if err != nil {
		return "", err
	}
	if bs {
		if ok, err := p.accept('*'); err != nil {
			return "", err
		} else if ok {
			return `\*`, nil
		}
	}
	a, err := p.atom()
	if err != nil {
		return "", err
	}
	if bs {
		return `\` + a, nil
	}
	return a, nil
}

// quoted reads a quoted string after its opening quote. A line end inside
// it is a syntax error at once (the line is over).
func (p *parser) quoted() (string, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			s := b.String()
			if !utf8.ValidString(s) {
				return "", badSyntax("Quoted string is not valid UTF-8")
			}
			return s, nil
		case '\\':
			c, err = p.next()
			if err != nil {
				return "", err
			}
			if c != '\\' && c != '"' {
				if c == '\n' || c == '\r' {
					p.skipLF(c)
					return "", badSyntax("Unterminated quoted string")
				}
				return "", badSyntax("Bad escape in quoted string")
			}
		case '\r', '\n':
			p.skipLF(c)
			return "", badSyntax("Unterminated quoted string")
		case 0:
			return "", badSyntax("NUL in quoted string")
		}
		b.WriteByte(c)
	}
}

// skipLF consumes the LF after a CR just read, so the line is over.
func (p *parser) skipLF(c byte) {
	if c == '\r' {
		if b, err := p.peek(); err == nil && b == '\n' {
			p.next()
		}
	}
}

// literalHeader reads "{n}", "{n+}" (LITERAL+, which implies LITERAL-) or,
// with binary, "~{n}" (literal8) up to its CRLF, after the "{" or "~".
func (p *parser) literalHeader(tilde bool) (n int64, sync bool, err error) {
	if tilde {
		if err := p.expect('{', "{"); err != nil {
			return 0, false, err
		}
	}
	digits, err := p.word(func(c byte) bool { return c >= '0' && c <= '9' }, "literal size")
	if err != nil {
		return 0, false, err
	}
	n, perr := strconv.ParseInt(digits, 10, 64)
	if perr != nil || n > 1<<40 {
		return 0, false, badSyntax("Literal size out of range")
	}
	plus, err := p.accept('+')
	if err != nil {
		return 0, false, err
	}
	if err := p.expect('}', "}"); err != nil {
		return 0, false, err
	}
	// The line ends here, whatever follows.
	c, err := p.next()
	if err != nil {
		return 0, false, err
	}
	if c == '\r' {
		if c, err = p.next(); err != nil {
			return 0, false, err
		}
	}
	if c != '\n' {
		return 0, false, badSyntax("Literal size not followed by CRLF")
	}
	p.eol = false // the command goes on after the literal
	return n, !plus, nil
}

// literal reads a literal's octets after "{" (or "~"), within the
// command's size budget.
func (p *parser) literal(tilde bool) ([]byte, error) {
	n, sync, err := p.literalHeader(tilde)
	if err != nil {
		return nil, err
	}
	if int64(maxCommandSize-p.n) < n {
		if sync {
			p.eol = true
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Literal too big for this command"}
		}
		return nil, errTooLong
	}
	if sync {
		if err := p.cont("Ready for literal data"); err != nil {
			return nil, err
		}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.br, b); err != nil {
		p.ioErr = err
		return nil, err
	}
	p.n += int(n)
	return b, nil
}

// astring reads an atom (with "]"), a quoted string or a literal.
func (p *parser) astring() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		p.next()
		return p.quoted()
	case '{', '~':
		p.next()
		b, err := p.literal(c == '~')
		if err != nil {
			return "", err
		}
		if !utf8.Valid(b) {
			return "", badSyntax("String is not valid UTF-8")
		}
		return string(b), nil
	}
	return p.word(isAStringChar, "string")
}

// str reads a quoted string or a literal (no atom).
func (p *parser) str() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	if c != '"' && c != '{' {
		return "", badSyntax("Expected a quoted string or a literal")
	}
	return p.astring()
}

// listMailbox reads LIST's mailbox pattern: an atom with "%", "*" and "]",
// or a string.
func (p *parser) listMailbox() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	if c == '"' || c == '{' {
		return p.astring()
	}
	return p.word(func(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' }, "mailbox pattern")
}

// mailbox reads a mailbox name: INBOX in any case is INBOX; other names
// are modified UTF-7 (RFC 3501 5.1.3), or UTF-8 (RFC 6855, IMAP4rev2).
func (p *parser) mailbox() (string, error) {
	s, err := p.astring()
	if err != nil {
		return "", err
	}
	return decodeMailbox(s, p.utf8)
}

// decodeMailbox turns a name as the client sent it into the store's
// UTF-8: from modified UTF-7 (raw UTF-8 outside "&…-" accepted as
// itself), or, for a client that takes UTF-8, as it is.
func decodeMailbox(s string, utf8Names bool) (string, error) {
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	if utf8Names {
		if !utf8.ValidString(s) {
			return "", badSyntax("Mailbox name is not valid UTF-8")
		}
		return s, nil
	}
	name, err := utf7Decode(s)
	if err != nil {
		return "", badSyntax("Mailbox name is not valid modified UTF-7 or UTF-8")
	}
	return name, nil
}

func (p *parser) number() (uint32, error) {
	digits, err := p.word(func(c byte) bool { return c >= '0' && c <= '9' }, "number")
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseUint(digits, 10, 32)
	if perr != nil {
		return 0, badSyntax("Number out of range")
	}
	return uint32(n), nil
}

func (p *parser) number64() (int64, error) {
	digits, err := p.word(func(c byte) bool { return c >= '0' && c <= '9' }, "number")
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(digits, 10, 64)
	if perr != nil {
		return 0, badSyntax("Number out of range")
	}
	return n, nil
}

// list reads "(" item *(SP item) ")", calling item for each; an empty
// list is allowed when empty is true.
func (p *parser) list(empty bool, item func() error) error {
	if err := p.expect('(', "("); err != nil {
		return err
	}
	if ok, err := p.accept(')'); err != nil {
		return err
	} else if ok {
		if !empty {
			return badSyntax("Empty list")
		}
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		c, err := p.next()
		if err != nil {
			return err
		}
		switch c {
		case ')':
			return nil
		case ' ':
		default:
			return badSyntax("Expected space or ) in a list")
		}
	}
}

func (p *parser) flagList() ([]imap.Flag, error) {
	var flags []imap.Flag
	err := p.list(true, func() error {
		f, err := p.flag()
		if err == nil {
			flags = append(flags, imap.Flag(f))
		}
		return err
	})
	return flags, err
}

// numSet reads a sequence set (RFC 9051 9: sequence-set), with "*" and
// "$" (SEARCHRES); uid gives an imap.UIDSet, else an imap.SeqSet. "*" is
// 0 in go-imap's ranges.
// spNumSet reads a space and a sequence or UID set: the first argument of
// FETCH, STORE, COPY and MOVE.
func (p *parser) spNumSet(uid bool) (imap.NumSet, error) {
	if err := p.sp(); err != nil {
		return nil, err
	}
	return p.numSet(uid)
}

// spMailbox reads a space and a mailbox name.
func (p *parser) spMailbox() (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	return p.mailbox()
}

func (p *parser) numSet(uid bool) (imap.NumSet, error) {
	if ok, err := p.accept('$'); err != nil {
		return nil, err
	} else if ok {
		return imap.SearchRes(), nil
	}
	s, err := p.word(func(c byte) bool { return c >= '0' && c <= '9' || c == ':' || c == ',' || c == '*' }, "sequence set")
	if err != nil {
		return nil, err
	}
	return parseNumSet(s, uid)
}

func parseNumSet(s string, uid bool) (imap.NumSet, error) {
	num := func(v string) (uint32, error) {
		if v == "*" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 || v[0] == '0' {
			return 0, badSyntax("Invalid number %q in sequence set", v)
		}
		return uint32(n), nil
	}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := num(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = num(hi); err != nil {
				return nil, err
			}
		}
		if uid {
			uids = append(uids, imap.UIDRange{Start: imap.UID(a), Stop: imap.UID(b)})
		} else {
			seqs = append(seqs, imap.SeqRange{Start: a, Stop: b})
		}
	}
	if uid {
		return uids, nil
	}
	return seqs, nil
}

// date reads date-text ("1-Feb-1994"), quoted or not.
func (p *parser) date() (time.Time, error) {
	q, err := p.accept('"')
	if err != nil {
		return time.Time{}, err
	}
	var s string
	if q {
		if s, err = p.quoted(); err != nil {
			return time.Time{}, err
		}
	} else if s, err = p.atom(); err != nil {
		return time.Time{}, err
	}
	t, perr := time.Parse("2-Jan-2006", s)
	if perr != nil {
		return time.Time{}, badSyntax("Invalid date %q", s)
	}
	return t, nil
}

// dateTime reads a quoted date-time (" 1-Feb-1994 21:52:25 -0800").
func (p *parser) dateTime() (time.Time, error) {
	if err := p.expect('"', "date-time"); err != nil {
		return time.Time{}, err
	}
	s, err := p.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, perr := time.Parse("_2-Jan-2006 15:04:05 -0700", s)
	if perr != nil {
		return time.Time{}, badSyntax("Invalid date-time %q", s)
	}
	return t, nil
}

// skipLine discards the rest of a failed command's line, and the octets of
// any LITERAL+ literal on it (which the client sends unasked, RFC 7888 3):
// they are the literal, not commands. A synchronising literal's octets are
// not sent, since no continuation request was.
func (p *parser) skipLine() error {
	if p.eol {
		return nil
	}
	var tail []byte // the last octets before the line end
	for {
		line, err := p.br.ReadSlice('\n')
		p.n += len(line)
		if err == bufio.ErrBufferFull {
			tail = append(tail[:0], line[max(0, len(line)-24):]...)
			if p.n > 16*maxCommandSize {
				return errTooLong
			}
			continue
		}
		if err != nil {
			p.ioErr = err
			return err
		}
		tail = append(tail, line...)
		tail = tail[max(0, len(tail)-26):]
		t := strings.TrimRight(string(tail), "\r\n")
		if !strings.HasSuffix(t, "+}") {
			p.eol = true
			return nil
		}
		i := strings.LastIndexByte(t, '{')
		n, err := strconv.ParseInt(t[i+1:len(t)-2], 10, 64)
		if i < 0 || err != nil || n < 0 {
			p.eol = true
			return nil
		}
		if n > 1<<30 {
			return errTooLong
		}
		if _, err := io.CopyN(io.Discard, p.br, n); err != nil {
			p.ioErr = err
			return err
		}
		tail = tail[:0]
	}
}

// nstring reads NIL or a string.
func (p *parser) nstring() (string, error) {
	c, err := p.peek()
	if err != nil {
		return "", err
	}
	if c == 'N' || c == 'n' {
		a, err := p.atom()
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(a, "NIL") {
			return "", badSyntax("Expected NIL or a string")
		}
		return "", nil
	}
	return p.str()
}

// nstringOrNil reads NIL or a string whose octets may be anything (a
// quoted string, a literal or a literal8): METADATA's values.
func (p *parser) nstringOrNil() (string, bool, error) {
	c, err := p.peek()
	if err != nil {
		return "", false, err
	}
	switch c {
	case 'N', 'n':
		a, err := p.atom()
		if err != nil {
			return "", false, err
		}
		if !strings.EqualFold(a, "NIL") {
			return "", false, badSyntax("Expected NIL or a string")
		}
		return "", true, nil
	case '"':
		p.next()
		s, err := p.quoted()
		return s, false, err
	case '{', '~':
		p.next()
		b, err := p.literal(c == '~')
		return string(b), false, err
	}
	return "", false, badSyntax("Expected NIL or a string")
}
