package imap

import (
	"bytes"
	"math"
	"petrel/search"
	"petrel/store"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Commands of the selected state (RFC 9051 6.4): their syntax. The work is
// in fetch.go, search.go and messages.go.

func (s *session) cmdClose(c *cmd) error {
	if err := c.p.crlf(); err != nil {
		return err
	}
	// CLOSE expunges, silently (RFC 9051 6.4.1), unless the mailbox was
	// opened with EXAMINE: then it only deselects (RFC 3501 6.4.2).
	if c.name == "CLOSE" && !s.view.readOnly {
		if err := s.expunge(nil); err != nil {
			return err
		}
	}
	s.unselect()
	return nil
}

func (s *session) cmdExpunge(c *cmd) error {
	p := c.p
	var set imap.NumSet
	if c.uid {
		if err := p.sp(); err != nil {
			return err
		}
		var err error
		if set, err = p.numSet(true); err != nil {
			return err
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if _, err := s.writable(); err != nil {
		return err
	}
	return s.expunge(set)
}

// fetchCmd is a parsed FETCH: the options for fetch.go, and how to name
// what it asked for in the reply.
type fetchWriter struct {
	s        *session
	emailID  bool // EMAILID (RFC 8474)
	threadID bool // THREADID (RFC 8474; NIL: no thread IDs kept)
	preview  bool // PREVIEW (RFC 8970)
	saveDate bool // SAVEDATE (RFC 8514)
	modseq   bool // MODSEQ (RFC 7162), asked or implied
	// changedSince, when not 0, keeps only messages with a higher MODSEQ
	// (FETCH … (CHANGEDSINCE n), RFC 7162 3.1.4).
	changedSince uint64
	bsExt        bool                                  // BODYSTRUCTURE
	bsPlain      bool                                  // BODY
	obsolete     map[*imap.FetchItemBodySection]string // nil until one is asked
	resp         fetchResp                             // the reply being written (CreateMessage)
	// seqAt and recentAt speed up finding the replies' messages in the
	// view's lists (searchFrom).
	seqAt, recentAt int
}

// seqOf is view.seqOf for the replies of this FETCH.
func (w *fetchWriter) seqOf(uid store.UID) uint32 {
	if i, ok := searchFrom(w.s.view.uids, uid, &w.seqAt); ok {
		return uint32(i + 1)
	}
	return 0
}

// showRecent is view.showRecent for the replies of this FETCH.
func (w *fetchWriter) showRecent(uid store.UID) bool {
	if w.s.rev2 {
		return false
	}
	_, ok := searchFrom(w.s.view.recent, uid, &w.recentAt)
	return ok
}

func (s *session) cmdFetch(c *cmd) error {
	p := c.p
	set, err := p.spNumSet(c.uid)
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	o := &imap.FetchOptions{UID: c.uid}
	w := &fetchWriter{s: s}
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' {
		err := p.list(false, func() error { return fetchAtt(p, o, w, false) })
		if err != nil {
			return err
		}
	} else if err := fetchAtt(p, o, w, true); err != nil {
		return err
	}
	vanished := false
	if ok, err := p.accept(' '); err != nil {
		return err
	} else if ok { // fetch-modifiers: (CHANGEDSINCE n), (… VANISHED)
		err := p.list(false, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			if strings.EqualFold(a, "VANISHED") { // RFC 7162 3.2.6
				vanished = true
				return nil
			}
			if !strings.EqualFold(a, "CHANGEDSINCE") {
				return badSyntax("Unknown FETCH modifier %q", a)
			}
			if err := p.sp(); err != nil {
				return err
			}
			n, err := p.number64()
			if err == nil && n <= 0 {
				err = badSyntax("CHANGEDSINCE needs a positive number")
			}
			w.changedSince, w.modseq = uint64(n), true
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if w.modseq {
		s.condstore = true
	}
	if vanished {
		if !c.uid || !s.qresync || w.changedSince == 0 {
			return bad("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled")
		}
		if err := s.vanishedSince(set.(imap.UIDSet), w.changedSince); err != nil {
			return err
		}
	}
	return s.fetch(w, set, o)
}

func isFetchAttChar(c byte) bool { return isAtomChar(c) && c != '[' && c != '<' }

// fetchAtt reads one fetch-att (or, when macro, also ALL, FAST or FULL).
func fetchAtt(p *parser, o *imap.FetchOptions, w *fetchWriter, macro bool) error {
	name, err := p.word(isFetchAttChar, "FETCH item")
	if err != nil {
		return err
	}
	name = strings.ToUpper(name)
	switch name {
	case "ALL", "FAST", "FULL":
		if !macro {
			return badSyntax("FETCH macros are not allowed in a list")
		}
		o.Flags, o.InternalDate, o.RFC822Size = true, true, true
		if name != "FAST" {
			o.Envelope = true
		}
		if name == "FULL" {
			w.bsPlain = true
			if o.BodyStructure == nil {
				o.BodyStructure = &imap.FetchItemBodyStructure{}
			}
		}
	case "ENVELOPE":
		o.Envelope = true
	case "FLAGS":
		o.Flags = true
	case "INTERNALDATE":
		o.InternalDate = true
	case "RFC822.SIZE":
		o.RFC822Size = true
	case "UID":
		o.UID = true
	case "MODSEQ":
		w.modseq = true
	case "EMAILID":
		w.emailID = true
	case "THREADID":
		w.threadID = true
	case "SAVEDATE":
		w.saveDate = true
	case "PREVIEW":
		w.preview = true
		if b, err := p.br.Peek(2); err == nil && string(b) == " (" { // RFC 8970 preview-mod: (LAZY)
			p.next()
			err := p.list(false, func() error {
				a, err := p.atom()
				if err == nil && !strings.EqualFold(a, "LAZY") {
					err = badSyntax("Unknown PREVIEW modifier %q", a)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
	case "BODYSTRUCTURE":
		w.bsExt = true
		o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
	case "RFC822", "RFC822.PEEK", "RFC822.HEADER", "RFC822.TEXT":
		bs := &imap.FetchItemBodySection{Peek: name != "RFC822" && name != "RFC822.TEXT"}
		switch name {
		case "RFC822.HEADER":
			bs.Specifier = imap.PartSpecifierHeader
		case "RFC822.TEXT":
			bs.Specifier = imap.PartSpecifierText
		}
		if w.obsolete == nil {
			w.obsolete = map[*imap.FetchItemBodySection]string{}
		}
		w.obsolete[bs] = name
		o.BodySection = append(o.BodySection, bs)
	case "BODY", "BODY.PEEK":
		if b, err := p.peek(); err != nil {
			return err
		} else if b != '[' {
			if name == "BODY.PEEK" {
				return badSyntax("Expected [ after BODY.PEEK")
			}
			w.bsPlain = true
			if o.BodyStructure == nil {
				o.BodyStructure = &imap.FetchItemBodyStructure{}
			}
			return nil
		}
		sec := &imap.FetchItemBodySection{Peek: name == "BODY.PEEK"}
		if err := section(p, sec); err != nil {
			return err
		}
		if sec.Partial, err = partialSpec(p); err != nil {
			return err
		}
		o.BodySection = append(o.BodySection, sec)
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		part, err := binaryPart(p)
		if err != nil {
			return err
		}
		if name == "BINARY.SIZE" {
			o.BinarySectionSize = append(o.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: part})
			return nil
		}
		sec := &imap.FetchItemBinarySection{Part: part, Peek: name == "BINARY.PEEK"}
		if sec.Partial, err = partialSpec(p); err != nil {
			return err
		}
		o.BinarySection = append(o.BinarySection, sec)
	default:
		return badSyntax("Unknown FETCH item %q", name)
	}
	return nil
}

// section reads "[" section-spec "]".
func section(p *parser, sec *imap.FetchItemBodySection) error {
	if err := p.expect('[', "["); err != nil {
		return err
	}
	if ok, err := p.accept(']'); err != nil || ok {
		return err
	}
	for {
		b, err := p.peek()
		if err != nil {
			return err
		}
		if b < '0' || b > '9' {
			break
		}
		n, err := p.number()
		if err != nil {
			return err
		}
		if n == 0 {
			return badSyntax("Part numbers start at 1")
		}
		if len(sec.Part) >= 64 {
			return badSyntax("Part path too deep")
		}
		sec.Part = append(sec.Part, int(n))
		if ok, err := p.accept('.'); err != nil {
			return err
		} else if !ok {
			return p.expect(']', "]")
		}
	}
	spec, err := p.word(func(c byte) bool { return isAtomChar(c) && c != '[' }, "section")
	if err != nil {
		return err
	}
	switch spec = strings.ToUpper(spec); spec {
	case "HEADER", "TEXT":
		sec.Specifier = imap.PartSpecifier(spec)
	case "MIME":
		if len(sec.Part) == 0 {
			return badSyntax("MIME needs a part number")
		}
		sec.Specifier = imap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		sec.Specifier = imap.PartSpecifierHeader
		if err := p.sp(); err != nil {
			return err
		}
		var names []string
		err := p.list(true, func() error {
			n, err := p.astring()
			names = append(names, n)
			return err
		})
		if err != nil {
			return err
		}
		if spec == "HEADER.FIELDS" {
			sec.HeaderFields = names
		} else {
			sec.HeaderFieldsNot = names
		}
	default:
		return badSyntax("Unknown section %q", spec)
	}
	return p.expect(']', "]")
}

func binaryPart(p *parser) ([]int, error) {
	if err := p.expect('[', "["); err != nil {
		return nil, err
	}
	var part []int
	if ok, err := p.accept(']'); err != nil || ok {
		return nil, err
	}
	for {
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, badSyntax("Part numbers start at 1")
		}
		if len(part) >= 64 {
			return nil, badSyntax("Part path too deep")
		}
		part = append(part, int(n))
		if ok, err := p.accept('.'); err != nil {
			return nil, err
		} else if !ok {
			return part, p.expect(']', "]")
		}
	}
}

// partialSpec reads an optional "<" offset "." size ">".
func partialSpec(p *parser) (*imap.SectionPartial, error) {
	if ok, err := p.accept('<'); err != nil || !ok {
		return nil, err
	}
	off, err := p.number()
	if err != nil {
		return nil, err
	}
	if err := p.expect('.', "."); err != nil {
		return nil, err
	}
	size, err := p.number()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, badSyntax("Partial size must not be 0")
	}
	return &imap.SectionPartial{Offset: int64(off), Size: int64(size)}, p.expect('>', ">")
}

// fetchResp is one "* n FETCH (…)" being written.
type fetchResp struct {
	w *fetchWriter
	e *enc
	n int
}

// CreateMessage starts a message's reply; the fetchResp is the writer's
// own, valid until the next CreateMessage.
func (w *fetchWriter) CreateMessage(seq uint32) *fetchResp {
	w.s.e.numIn("* ", seq, " FETCH (")
	w.resp = fetchResp{w: w, e: &w.s.e}
	return &w.resp
}

func (r *fetchResp) item(name string) *enc {
	if r.n > 0 {
		r.e.sp()
	}
	r.n++
	return r.e.raw(name)
}

func (r *fetchResp) WriteUID(uid imap.UID) {
	if r.n++; r.n > 1 {
		r.e.numIn(" UID ", uint32(uid), "")
	} else {
		r.e.numIn("UID ", uint32(uid), "")
	}
}
func (r *fetchResp) WriteFlags(flags []string, recent bool) {
	writeFlags(r.item("FLAGS "), flags, recent)
}
func (r *fetchResp) WriteInternalDate(t time.Time)     { r.item("INTERNALDATE ").date(t) }
func (r *fetchResp) WriteRFC822Size(n int64)           { r.item("RFC822.SIZE ").num64(n) }
func (r *fetchResp) WriteEnvelope(env *store.Envelope) { r.item("ENVELOPE ").envelope(env) }
func (r *fetchResp) Close() error                      { r.e.raw(")\r\n"); return nil }
func (r *fetchResp) WriteBinarySize(part []int, n int64) {
	r.item("BINARY.SIZE[").raw(partPath(part)).raw("] ").num64(n)
}

// WriteObjectIDs writes RFC 8474's EMAILID and THREADID and RFC 8514's
// SAVEDATE (NIL for a message stored before save dates were kept), as
// asked.
func (r *fetchResp) WriteObjectIDs(meta *store.Message) {
	if r.w.emailID {
		r.item("EMAILID (E").num64(int64(meta.Blob)).raw(")")
	}
	if r.w.threadID {
		r.item("THREADID NIL")
	}
	if r.w.saveDate {
		if meta.SaveDate.IsZero() {
			r.item("SAVEDATE NIL")
		} else {
			r.item("SAVEDATE ").date(meta.SaveDate)
		}
	}
}

// WriteModSeq writes MODSEQ (RFC 7162 3.1.4.1).
func (r *fetchResp) WriteModSeq(n uint64) { r.item("MODSEQ (").num64(int64(n)).raw(")") }

// WritePreview writes RFC 8970's PREVIEW: NIL when there is no text.
func (r *fetchResp) WritePreview(text string) {
	r.item("PREVIEW ").nstr(text)
}

func (r *fetchResp) WriteBodyStructure(bs *store.Part) {
	if r.w.bsPlain {
		r.item("BODY ").bodyStructure(bs, false)
	}
	if r.w.bsExt {
		r.item("BODYSTRUCTURE ").bodyStructure(bs, true)
	}
}

func (r *fetchResp) WriteBodySection(sec *imap.FetchItemBodySection, b []byte) {
	b = withoutNUL(b)
	if name, ok := r.w.obsolete[sec]; ok {
		r.item(strings.TrimSuffix(name, ".PEEK")).sp().literal(b)
		return
	}
	r.item("BODY").section(sec.Part, sec.Specifier, sec.HeaderFields, sec.HeaderFieldsNot)
	if sec.Partial != nil {
		r.e.byte('<').num64(sec.Partial.Offset).byte('>')
	}
	r.e.sp().literal(b)
}

// withoutNUL replaces NUL octets, which no IMAP literal may hold (a
// message APPENDed as literal8 can have them), with 0x80, as Dovecot does:
// the size stays, BINARY still gives the octets as stored.
func withoutNUL(b []byte) []byte {
	if bytes.IndexByte(b, 0) < 0 {
		return b
	}
	b = bytes.Clone(b)
	for i, c := range b {
		if c == 0 {
			b[i] = 0x80
		}
	}
	return b
}

// WriteBinarySection names the section with its origin when partial
// (RFC 3516 4.2: "BINARY[1]<0>").
func (r *fetchResp) WriteBinarySection(sec *imap.FetchItemBinarySection, b []byte) {
	r.item("BINARY[").raw(partPath(sec.Part)).raw("]")
	if sec.Partial != nil {
		r.e.byte('<').num64(sec.Partial.Offset).byte('>')
	}
	r.e.sp().literal8(b)
}

func (s *session) cmdStore(c *cmd) error {
	p := c.p
	set, err := p.spNumSet(c.uid)
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	unchangedSince := uint64(math.MaxUint64)
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' { // store-modifiers: (UNCHANGEDSINCE n), RFC 7162 3.1.3
		err := p.list(false, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(a, "UNCHANGEDSINCE") {
				return badSyntax("Unknown STORE modifier %q", a)
			}
			if err := p.sp(); err != nil {
				return err
			}
			n, err := p.number64()
			unchangedSince = uint64(n)
			return err
		})
		if err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
		s.condstore = true
	}
	item, err := p.atom()
	if err != nil {
		return err
	}
	var f imap.StoreFlags
	item = strings.ToUpper(item)
	switch {
	case strings.HasPrefix(item, "+"):
		f.Op, item = imap.StoreFlagsAdd, item[1:]
	case strings.HasPrefix(item, "-"):
		f.Op, item = imap.StoreFlagsDel, item[1:]
	default:
		f.Op = imap.StoreFlagsSet
	}
	switch item {
	case "FLAGS":
	case "FLAGS.SILENT":
		f.Silent = true
	default:
		return badSyntax("Expected FLAGS, +FLAGS or -FLAGS")
	}
	if err := p.sp(); err != nil {
		return err
	}
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' {
		if f.Flags, err = p.flagList(); err != nil {
			return err
		}
	} else {
		for {
			fl, err := p.flag()
			if err != nil {
				return err
			}
			f.Flags = append(f.Flags, imap.Flag(fl))
			if ok, err := p.accept(' '); err != nil {
				return err
			} else if !ok {
				break
			}
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	for _, fl := range f.Flags {
		if fl == flagRecent || fl == imap.FlagWildcard {
			return bad("\\Recent and \\* cannot be stored")
		}
	}
	return s.store(c.uid, set, &f, unchangedSince)
}

func (s *session) cmdCopy(c *cmd) error {
	p := c.p
	set, err := p.spNumSet(c.uid)
	if err != nil {
		return err
	}
	dest, err := oneMailbox(p)
	if err != nil {
		return err
	}
	if strings.HasSuffix(c.name, "MOVE") {
		return s.move(set, dest)
	}
	return s.copy(set, dest)
}

// cmdSearch reads SEARCH [RETURN (…)] [CHARSET x] keys (RFC 9051 6.4.4,
// RFC 4731, RFC 5182) and answers with SEARCH or, for IMAP4rev2 sessions
// and RETURN, ESEARCH.
func (s *session) cmdSearch(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	var o imap.SearchOptions
	extended := false
	update := false              // RETURN (UPDATE), RFC 5267 4.3
	var partLow, partHigh uint32 // RETURN (PARTIAL low:high), RFC 5267 4.4
	var key string
	if b, err := p.peek(); err != nil {
		return err
	} else if b != '(' {
		if key, err = p.word(isSearchKeyChar, "search key"); err != nil {
			return err
		}
	}
	if strings.EqualFold(key, "RETURN") {
		extended = true
		if err := p.sp(); err != nil {
			return err
		}
		err := p.list(true, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "MIN":
				o.ReturnMin = true
			case "MAX":
				o.ReturnMax = true
			case "ALL":
				o.ReturnAll = true
			case "COUNT":
				o.ReturnCount = true
			case "SAVE":
				o.ReturnSave = true
			case "UPDATE":
				update = true
			case "CONTEXT": // a hint (RFC 5267 4.2)
			case "PARTIAL":
				if err := p.sp(); err != nil {
					return err
				}
				lo, err := p.number()
				if err == nil {
					err = p.expect(':', "partial range")
				}
				var hi uint32
				if err == nil {
					hi, err = p.number()
				}
				if err != nil {
					return err
				}
				if lo == 0 || hi == 0 {
					return badSyntax("PARTIAL range positions start at 1")
				}
				partLow, partHigh = min(lo, hi), max(lo, hi)
			default:
				return badSyntax("Unknown SEARCH RETURN option %q", a)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
		key = ""
	}
	charset := ""
	var err error
	if key == "" {
		if b, err := p.peek(); err != nil {
			return err
		} else if b != '(' {
			if key, err = p.word(isSearchKeyChar, "search key"); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(key, "CHARSET") {
		if err := p.sp(); err != nil {
			return err
		}
		if charset, err = p.astring(); err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
		key = ""
	}
	var crit imap.SearchCriteria
	for depth := 0; ; {
		if err := searchKey(p, &crit, key, depth); err != nil {
			return err
		}
		key = ""
		if ok, err := p.accept(' '); err != nil {
			return err
		} else if !ok {
			break
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	switch strings.ToUpper(charset) {
	case "", "US-ASCII", "UTF-8":
	default:
		return no(imap.ResponseCodeBadCharset, "Only US-ASCII and UTF-8 are supported SEARCH charsets")
	}
	if partLow > 0 && o.ReturnAll {
		return bad("SEARCH RETURN: PARTIAL and ALL exclude each other")
	}
	if update && s.contextFor(c.tag) != nil {
		return bad("An updating search with this tag is active; CANCELUPDATE it first")
	}
	if !o.ReturnMin && !o.ReturnMax && !o.ReturnAll && !o.ReturnCount && !o.ReturnSave && partLow == 0 {
		o.ReturnAll = true
	} else if !o.ReturnMin && !o.ReturnMax && !o.ReturnAll && !o.ReturnCount {
		// RETURN (SAVE) alone returns nothing but saves all (RFC 5182 2.2)
	}
	data, err := s.search(c.uid, &crit, &o)
	if err != nil {
		return err
	}
	e := &s.e
	if s.rev2 || extended {
		e.raw(`* ESEARCH (TAG `).str(c.tag).raw(")")
		if c.uid {
			e.raw(" UID")
		}
		all := numSetString(data.All)
		if o.ReturnAll && all != "" {
			e.raw(" ALL ").raw(all)
		}
		if o.ReturnMin && data.Min > 0 {
			e.raw(" MIN ").num(data.Min)
		}
		if o.ReturnMax && data.Max > 0 {
			e.raw(" MAX ").num(data.Max)
		}
		if o.ReturnCount {
			e.raw(" COUNT ").num(data.Count)
		}
		if partLow > 0 {
			partialResult(e, partLow, partHigh, data.nums)
		}
		if data.modseq > 0 {
			e.raw(" MODSEQ ").num64(int64(data.modseq))
		}
		e.crlf()
		if update {
			s.addContext(c.tag, c.uid, &crit, data.uids)
		}
		return nil
	}
	e.raw("* SEARCH")
	for _, n := range data.nums {
		e.sp().num(n)
	}
	if data.modseq > 0 {
		e.raw(" (MODSEQ ").num64(int64(data.modseq)).raw(")")
	}
	e.crlf()
	return nil
}

func isSearchKeyChar(c byte) bool { return isAtomChar(c) || c == '*' }

const maxSearchDepth = 100

// searchKey reads one search-key (key is its first word when already
// read) into crit.
func searchKey(p *parser, crit *imap.SearchCriteria, key string, depth int) error {
	if depth > maxSearchDepth {
		return badSyntax("Search keys nested too deeply")
	}
	if key == "" {
		if b, err := p.peek(); err != nil {
			return err
		} else if b == '(' {
			return p.list(false, func() error { return searchKey(p, crit, "", depth+1) })
		}
		var err error
		if key, err = p.word(isSearchKeyChar, "search key"); err != nil {
			return err
		}
	}
	astr := func() (string, error) {
		if err := p.sp(); err != nil {
			return "", err
		}
		return p.astring()
	}
	date := func() (time.Time, error) {
		if err := p.sp(); err != nil {
			return time.Time{}, err
		}
		return p.date()
	}
	switch k := strings.ToUpper(key); k {
	case "ALL":
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "RECENT":
		crit.Flag = append(crit.Flag, imap.Flag(`\`+k[:1]+strings.ToLower(k[1:])))
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		crit.NotFlag = append(crit.NotFlag, imap.Flag(`\`+k[2:3]+strings.ToLower(k[3:])))
	case "NEW":
		crit.Flag = append(crit.Flag, flagRecent)
		crit.NotFlag = append(crit.NotFlag, imap.FlagSeen)
	case "OLD":
		crit.NotFlag = append(crit.NotFlag, flagRecent)
	case "KEYWORD", "UNKEYWORD":
		if err := p.sp(); err != nil {
			return err
		}
		f, err := p.flag()
		if err != nil {
			return err
		}
		if k == "KEYWORD" {
			crit.Flag = append(crit.Flag, imap.Flag(f))
		} else {
			crit.NotFlag = append(crit.NotFlag, imap.Flag(f))
		}
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		v, err := astr()
		if err != nil {
			return err
		}
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: k[:1] + strings.ToLower(k[1:]), Value: v})
	case "HEADER":
		name, err := astr()
		if err != nil {
			return err
		}
		v, err := astr()
		if err != nil {
			return err
		}
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: name, Value: v})
	case "BODY", "TEXT":
		v, err := astr()
		if err != nil {
			return err
		}
		if k == "BODY" {
			crit.Body = append(crit.Body, v)
		} else {
			crit.Text = append(crit.Text, v)
		}
	case "SINCE", "BEFORE", "ON", "SENTSINCE", "SENTBEFORE", "SENTON":
		t, err := date()
		if err != nil {
			return err
		}
		var dc imap.SearchCriteria
		switch k {
		case "SINCE":
			dc.Since = t
		case "BEFORE":
			dc.Before = t
		case "ON":
			dc.Since, dc.Before = t, t.Add(24*time.Hour)
		case "SENTSINCE":
			dc.SentSince = t
		case "SENTBEFORE":
			dc.SentBefore = t
		case "SENTON":
			dc.SentSince, dc.SentBefore = t, t.Add(24*time.Hour)
		}
		crit.And(&dc)
	case "SAVEDSINCE", "SAVEDBEFORE", "SAVEDON": // RFC 8514 4.3
		t, err := date()
		if err != nil {
			return err
		}
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: search.SavedKey, Value: strings.ToLower(k[5:]) + " " + t.Format(time.DateOnly)})
	case "SAVEDATESUPPORTED": // every mailbox keeps save dates: all messages
	case "LARGER", "SMALLER":
		if err := p.sp(); err != nil {
			return err
		}
		n, err := p.number64()
		if err != nil {
			return err
		}
		if k == "LARGER" {
			crit.And(&imap.SearchCriteria{Larger: n})
		} else {
			crit.And(&imap.SearchCriteria{Smaller: n})
		}
	case "UID":
		set, err := p.spNumSet(true)
		if err != nil {
			return err
		}
		crit.UID = append(crit.UID, set.(imap.UIDSet))
	case "NOT":
		if err := p.sp(); err != nil {
			return err
		}
		var not imap.SearchCriteria
		if err := searchKey(p, &not, "", depth+1); err != nil {
			return err
		}
		crit.Not = append(crit.Not, not)
	case "OR":
		var or [2]imap.SearchCriteria
		for i := range or {
			if err := p.sp(); err != nil {
				return err
			}
			if err := searchKey(p, &or[i], "", depth+1); err != nil {
				return err
			}
		}
		crit.Or = append(crit.Or, or)
	case "MODSEQ": // RFC 7162 3.1.5: MODSEQ [entry-name entry-type] n
		if err := p.sp(); err != nil {
			return err
		}
		if b, err := p.peek(); err != nil {
			return err
		} else if b == '"' {
			p.next()
			if _, err := p.quoted(); err != nil {
				return err
			}
			if err := p.sp(); err != nil {
				return err
			}
			typ, err := p.atom()
			if err != nil {
				return err
			}
			if t := strings.ToLower(typ); t != "priv" && t != "shared" && t != "all" {
				return badSyntax("Unknown MODSEQ entry type %q", typ)
			}
			if err := p.sp(); err != nil {
				return err
			}
		}
		n, err := p.number64()
		if err != nil {
			return err
		}
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: search.ModSeqKey, Value: strconv.FormatInt(n, 10)})
	case "EMAILID", "THREADID": // RFC 8474 5
		id, err := astr()
		if err != nil {
			return err
		}
		if k == "THREADID" {
			crit.UID = append(crit.UID, imap.UIDSet{}) // no thread IDs: nothing
		} else {
			crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: search.EmailIDKey, Value: id})
		}
	case "OLDER", "YOUNGER": // RFC 5032
		if err := p.sp(); err != nil {
			return err
		}
		n, err := p.number()
		if err != nil {
			return err
		}
		if n == 0 {
			return badSyntax("%s needs a positive number", k)
		}
		op := ">"
		if k == "YOUNGER" {
			op = "<"
		}
		crit.Header = append(crit.Header, imap.SearchCriteriaHeaderField{Key: search.WithinKey, Value: op + strconv.FormatUint(uint64(n), 10)})
	case "$":
		crit.UID = append(crit.UID, imap.SearchRes())
	default:
		if key[0] != '*' && (key[0] < '0' || key[0] > '9') {
			return badSyntax("Unknown search key %q", key)
		}
		set, err := parseNumSet(key, false)
		if err != nil {
			return err
		}
		crit.SeqNum = append(crit.SeqNum, set.(imap.SeqSet))
	}
	return nil
}

// flagRecent is RFC 3501's \Recent, which go-imap v2 no longer names.
const flagRecent imap.Flag = `\Recent`
