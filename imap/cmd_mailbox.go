package imap

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/search"
	"petrel/store"
)

// Commands on mailboxes (RFC 9051 6.3): SELECT, EXAMINE, CREATE, DELETE,
// RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with RFC 5258, 5819 and 6154
// options), LSUB, STATUS and APPEND.

// systemFlags are shown in FLAGS, with the keywords the session has met;
// PERMANENTFLAGS adds \* since any keyword is stored (RFC 9051 7.1).
var (
	systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft,
		imap.FlagForwarded, imap.FlagJunk, imap.FlagNotJunk, imap.FlagMDNSent}
)

// codeUseAttr is RFC 6154's response code for a refused special-use
// attribute (go-imap has no constant for it).
const codeUseAttr imap.ResponseCode = "USEATTR"

func (s *session) cmdSelect(c *cmd) error {
	p := c.p
	readOnly := c.name == "EXAMINE"
	name, err := p.spMailbox()
	if err != nil {
		return err
	}
	var qr *qresyncParam
	if ok, err := p.accept(' '); err != nil {
		return err
	} else if ok {
		// select-params: CONDSTORE (RFC 7162 3.1.8), QRESYNC (3.2.5).
		err := p.list(true, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "CONDSTORE":
				s.condstore = true
				return nil
			case "QRESYNC":
				if !s.qresync {
					return badSyntax("QRESYNC is not enabled")
				}
				if err := p.sp(); err != nil {
					return err
				}
				qr, err = qresyncParams(p)
				return err
			}
			return badSyntax("Unknown SELECT parameter %q", a)
		})
		if err != nil {
			return err
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if s.state == stateSelected {
		s.unselect()
		s.e.raw("* OK [CLOSED] Previous mailbox is now closed").crlf()
	}
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		return clientError(err, "select")
	}
	m, err := s.srv.openMailbox(mb.ID)
	if err != nil {
		return clientError(err, "select")
	}
	v := m.newView(readOnly)
	m.mu.Lock()
	uidNext, uidValidity := m.uidNext, m.uidValidity
	m.mu.Unlock()
	var list *imap.ListData
	if s.rev2 {
		// RFC 9051 6.3.2: SELECT returns the mailbox's LIST response.
		has, err := s.hasChildren(mb.Name)
		if err != nil {
			v.close()
			return clientError(err, "select")
		}
		list = &imap.ListData{Delim: store.Separator, Mailbox: mb.Name, Attrs: mailboxAttrs(mb, has)}
	}
	s.view = v
	s.state = stateSelected
	var firstUnseen uint32
	if !s.rev2 && mb.Unseen > 0 {
		if firstUnseen, err = s.firstUnseen(v); err != nil {
			s.unselect()
			return clientError(err, "select")
		}
	}
	e := &s.e
	e.raw("* ").num(uint32(len(v.uids))).raw(" EXISTS").crlf()
	if !s.rev2 {
		// IMAP4rev1 (RFC 3501 6.3.1); IMAP4rev2 dropped both.
		e.raw("* ").num(uint32(len(v.recent))).raw(" RECENT").crlf()
		if firstUnseen > 0 {
			e.raw("* OK [UNSEEN ").num(firstUnseen).raw("] First unseen").crlf()
		}
	}
	e.raw("* OK [UIDVALIDITY ").num(uidValidity).raw("] UIDs valid").crlf()
	e.raw("* OK [UIDNEXT ").num(uint32(uidNext)).raw("] Predicted next UID").crlf()
	e.raw("* OK [MAILBOXID (").raw(mailboxID(mb.ID)).raw(")] Ok").crlf()            // RFC 8474
	e.raw("* OK [HIGHESTMODSEQ ").num64(int64(v.selModSeq)).raw("] Highest").crlf() // RFC 7162
	s.writeFlags()
	if list != nil {
		s.writeList("LIST", list, nil)
	}
	if qr != nil && qr.uidValidity == uidValidity {
		if err := s.resync(v, qr); err != nil {
			return clientError(err, "select")
		}
	}
	if readOnly {
		return ok("READ-ONLY", "EXAMINE completed")
	}
	return ok("READ-WRITE", "SELECT completed")
}

// firstUnseen is the sequence number of the view's first message without
// \Seen, or 0.
func (s *session) firstUnseen(v *view) (uint32, error) {
	// Batches grow from 64: the first unseen message is usually early
	// (an unread mailbox) or the search is long anyway.
	size := 64
	for start := 0; start < len(v.uids); start, size = start+size, min(2*size, fetchBatch) {
		batch := v.uids[start:min(start+size, len(v.uids))]
		metas, err := s.srv.opts.Store.Messages(v.m.id, batch)
		if err != nil {
			return 0, err
		}
		for i := range metas {
			if !metas[i].Has(store.FlagSeen) {
				return v.seqOf(metas[i].UID), nil
			}
		}
	}
	return 0, nil
}

// mailboxAttrs are the attributes LIST shows for a mailbox (before
// \Subscribed, which is shown on request).
func mailboxAttrs(mb *store.Mailbox, hasChildren bool) []imap.MailboxAttr {
	attrs := make([]imap.MailboxAttr, 1, 3) // room for special use and \Subscribed
	attrs[0] = imap.MailboxAttrHasNoChildren
	if hasChildren {
		attrs[0] = imap.MailboxAttrHasChildren
	}
	if mb.SpecialUse != "" {
		attrs = append(attrs, imap.MailboxAttr(mb.SpecialUse))
	}
	return attrs
}

func (s *session) cmdCreate(c *cmd) error {
	p := c.p
	name, err := p.spMailbox()
	if err != nil {
		return err
	}
	var uses []string
	if ok, err := p.accept(' '); err != nil {
		return err
	} else if ok {
		// RFC 4466 create-param; RFC 6154 USE (attrs).
		err := p.list(false, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(a, "USE") {
				return badSyntax("Unknown CREATE parameter")
			}
			if err := p.sp(); err != nil {
				return err
			}
			return p.list(true, func() error {
				f, err := p.flag()
				uses = append(uses, f)
				return err
			})
		})
		if err != nil {
			return err
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, string(store.Separator)) // RFC 9051 6.3.4
	use := ""
	if len(uses) > 1 {
		return no(codeUseAttr, "One special-use attribute per mailbox")
	}
	if len(uses) == 1 {
		use = specialUse(uses[0])
		if use == "" {
			return no(codeUseAttr, "Unsupported special-use attribute")
		}
	}
	mb, err := s.srv.opts.Store.CreateMailboxSubscribed(s.ctx, s.acct.ID, name, use, false)
	if err != nil {
		return clientError(err, "create")
	}
	return ok(imap.ResponseCode("MAILBOXID ("+mailboxID(mb.ID)+")"), "CREATE completed")
}

// specialUse is the canonical spelling of a special-use attribute Petrel
// supports, or "".
func specialUse(a string) string {
	for _, u := range []imap.MailboxAttr{imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts,
		imap.MailboxAttrFlagged, imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash} {
		if strings.EqualFold(a, string(u)) {
			return string(u)
		}
	}
	return ""
}

// oneMailbox reads " mailbox" CRLF.
func oneMailbox(p *parser) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	name, err := p.mailbox()
	if err != nil {
		return "", err
	}
	return name, p.crlf()
}

// cmdDelete deletes a mailbox and its messages (RFC 9051 6.3.4). If it
// has children they stay, and its name stays in LIST as a \Noselect level
// of the hierarchy for as long as they exist (see cmdList). Deleting such
// a level is an error while it has children; once the last child is gone,
// so is the name.
func (s *session) cmdDelete(c *cmd) error {
	name, err := oneMailbox(c.p)
	if err != nil {
		return err
	}
	err = s.srv.opts.Store.DeleteMailbox(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNoMailbox) {
		has, herr := s.hasChildren(name)
		if herr != nil {
			return clientError(herr, "delete")
		}
		if has {
			return no(imap.ResponseCodeHasChildren, "Name is not a mailbox and has inferior hierarchical names")
		}
	}
	return clientError(err, "delete")
}

// hasChildren reports whether any mailbox is below name in the hierarchy.
func (s *session) hasChildren(name string) (bool, error) {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return false, nil
	}
	mbs, err := s.srv.opts.Store.Mailboxes(s.acct.ID)
	if err != nil {
		return false, fmt.Errorf("list mailboxes: %w", err)
	}
	p := n + string(store.Separator)
	return slices.ContainsFunc(mbs, func(m store.Mailbox) bool { return strings.HasPrefix(m.Name, p) }), nil
}

func (s *session) cmdRename(c *cmd) error {
	p := c.p
	oldName, err := p.spMailbox()
	if err != nil {
		return err
	}
	newName, err := oneMailbox(p)
	if err != nil {
		return err
	}
	newName = strings.TrimSuffix(newName, string(store.Separator))
	return clientError(s.srv.opts.Store.RenameMailbox(s.ctx, s.acct.ID, oldName, newName), "rename")
}

func (s *session) cmdSubscribe(c *cmd) error {
	name, err := oneMailbox(c.p)
	if err != nil {
		return err
	}
	return clientError(s.srv.opts.Store.SetSubscribed(s.ctx, s.acct.ID, name, c.name == "SUBSCRIBE"), strings.ToLower(c.name))
}

// listOptions are LIST's selection and return options (RFC 5258, 5819,
// 6154).
type listOptions struct {
	selectSubscribed, selectSpecialUse, recursiveMatch bool
	returnSubscribed, returnChildren, returnSpecialUse bool
	returnStatus                                       *imap.StatusOptions
	statusItems                                        []string
}

// cmdList serves LIST and LSUB.
func (s *session) cmdList(c *cmd) error {
	p := c.p
	lsub := c.name == "LSUB"
	var o listOptions
	if err := p.sp(); err != nil {
		return err
	}
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' && !lsub {
		err := p.list(true, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				o.selectSubscribed = true
			case "REMOTE":
			case "RECURSIVEMATCH":
				o.recursiveMatch = true
			case "SPECIAL-USE":
				o.selectSpecialUse = true
			default:
				return badSyntax("Unknown LIST selection option %q", a)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if o.recursiveMatch && !o.selectSubscribed {
			return badSyntax("RECURSIVEMATCH needs another selection option")
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
	ref, err := p.mailbox()
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	var patterns []string
	if b, err := p.peek(); err != nil {
		return err
	} else if b == '(' && !lsub {
		err := p.list(false, func() error {
			pat, err := p.listMailbox()
			patterns = append(patterns, pat)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		pat, err := p.listMailbox()
		if err != nil {
			return err
		}
		patterns = append(patterns, pat)
	}
	if !lsub {
		if ok, err := p.accept(' '); err != nil {
			return err
		} else if ok {
			a, err := p.atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(a, "RETURN") {
				return badSyntax("Expected RETURN")
			}
			if err := p.sp(); err != nil {
				return err
			}
			err = p.list(true, func() error {
				a, err := p.atom()
				if err != nil {
					return err
				}
				switch strings.ToUpper(a) {
				case "SUBSCRIBED":
					o.returnSubscribed = true
				case "CHILDREN":
					o.returnChildren = true
				case "SPECIAL-USE":
					o.returnSpecialUse = true
				case "STATUS":
					if err := p.sp(); err != nil {
						return err
					}
					o.returnStatus, o.statusItems, err = statusItems(p)
					return err
				default:
					return badSyntax("Unknown LIST return option %q", a)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	// Patterns are matched against names as the store keeps them (UTF-8):
	// decode them; one that is not valid modified UTF-7 matches itself,
	// and a UTF-8 client's are UTF-8 already.
	for i, pat := range patterns {
		if d, err := utf7Decode(pat); err == nil && !s.e.utf8 {
			patterns[i] = d
		}
	}
	if lsub {
		o.selectSubscribed = true
	}
	return s.list(c.name, ref, patterns, &o)
}

func (s *session) list(resp, ref string, patterns []string, o *listOptions) error {
	if len(patterns) == 1 && patterns[0] == "" {
		// RFC 9051 6.3.9: the hierarchy delimiter and root.
		s.writeList(resp, &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: store.Separator}, nil)
		return nil
	}
	mbs, err := s.srv.opts.Store.Mailboxes(s.acct.ID)
	if err != nil {
		return clientError(err, "list")
	}
	type entry struct {
		mb         *store.Mailbox // nil: a level of the hierarchy, or a subscription only
		subscribed bool
	}
	entries := make(map[string]*entry, len(mbs))
	ents := make([]entry, len(mbs)) // the mailboxes' entries, in one array
	for i := range mbs {
		ents[i] = entry{mb: &mbs[i], subscribed: mbs[i].Subscribed}
		entries[mbs[i].Name] = &ents[i]
	}
	// Levels of the hierarchy that are no mailbox: the parents left by
	// DELETE of a mailbox with children. They are listed \Noselect, or
	// \NonExistent to an IMAP4rev2 client (RFC 9051 7.3.1: it implies
	// \Noselect, and such names are returned only where "%" asks for
	// levels of hierarchy, RFC 9051 6.3.9).
	addLevels := func(name string) {
		for i, r := range name {
			if r == store.Separator && entries[name[:i]] == nil {
				entries[name[:i]] = &entry{}
			}
		}
	}
	for _, mb := range mbs {
		addLevels(mb.Name)
	}
	if o.selectSubscribed {
		// Subscriptions outlive their mailboxes (RFC 9051 6.3.7): shown
		// \NonExistent (\Noselect to LSUB).
		subs, err := s.srv.opts.Store.Subscriptions(s.acct.ID)
		if err != nil {
			return clientError(err, "list")
		}
		for _, n := range subs {
			if entries[n] == nil {
				entries[n] = &entry{}
			}
			entries[n].subscribed = true
			addLevels(n)
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	// INBOX first, as clients expect; the rest by name.
	slices.SortFunc(names, func(a, b string) int {
		if (a == "INBOX") != (b == "INBOX") {
			if a == "INBOX" {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	// below reports whether any name below n in the hierarchy has ok.
	below := func(n string, ok func(*entry) bool) bool {
		p := n + string(store.Separator)
		i, _ := slices.BinarySearch(names[1:], p) // names[0] may be INBOX
		for _, m := range names[1+i:] {
			if !strings.HasPrefix(m, p) {
				break
			}
			if ok(entries[m]) {
				return true
			}
		}
		return n == "INBOX" && slices.ContainsFunc(names, func(m string) bool {
			return strings.HasPrefix(m, p) && ok(entries[m])
		})
	}
	isMailbox := func(e *entry) bool { return e.mb != nil }
	isSubscribed := func(e *entry) bool { return e.subscribed }
	for _, name := range names {
		en := entries[name]
		matches := func(p string) bool { return matchList(name, store.Separator, ref, p) }
		if !slices.ContainsFunc(patterns, matches) {
			continue
		}
		byPercent := slices.ContainsFunc(patterns, func(p string) bool { return strings.HasSuffix(p, "%") && matches(p) })
		var data *imap.ListData
		var childInfo []string
		switch {
		case o.selectSubscribed:
			subChild := below(name, isSubscribed)
			if !en.subscribed {
				// A parent of subscribed names: LSUB shows it \Noselect
				// where "%" stops at it (RFC 3501 6.3.9), LIST with
				// RECURSIVEMATCH with CHILDINFO (RFC 5258 3.5).
				if !subChild || !(o.recursiveMatch || resp == "LSUB" && byPercent) {
					continue
				}
			}
			if subChild && o.recursiveMatch {
				childInfo = []string{"SUBSCRIBED"}
			}
			var attrs []imap.MailboxAttr
			switch {
			case resp == "LSUB" && !en.subscribed:
				attrs = []imap.MailboxAttr{imap.MailboxAttrNoSelect}
			case en.mb != nil:
				attrs = mailboxAttrs(en.mb, below(name, isMailbox))
			case resp == "LSUB":
				attrs = []imap.MailboxAttr{imap.MailboxAttrNoSelect}
			default:
				attrs = []imap.MailboxAttr{imap.MailboxAttrNonExistent}
			}
			if en.subscribed && resp == "LIST" {
				attrs = append(attrs, imap.MailboxAttrSubscribed)
			}
			data = &imap.ListData{Delim: store.Separator, Mailbox: name, Attrs: attrs}
		case en.mb == nil:
			if o.selectSpecialUse {
				continue
			}
			attr := imap.MailboxAttrNoSelect
			if s.rev2 {
				attr = imap.MailboxAttrNonExistent
				if !byPercent {
					continue
				}
			}
			data = &imap.ListData{Delim: store.Separator, Mailbox: name, Attrs: []imap.MailboxAttr{attr, imap.MailboxAttrHasChildren}}
		default:
			if o.selectSpecialUse && en.mb.SpecialUse == "" {
				continue
			}
			data = &imap.ListData{Delim: store.Separator, Mailbox: name, Attrs: mailboxAttrs(en.mb, below(name, isMailbox))}
			if en.subscribed && o.returnSubscribed {
				data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
			}
		}
		s.writeList(resp, data, childInfo)
		if o.returnStatus != nil && en.mb != nil {
			s.writeStatus(en.mb.ID, s.statusData(en.mb, o.returnStatus), o.statusItems)
		}
	}
	return nil
}

// writeList writes a LIST (or LSUB) response, with RFC 5258's CHILDINFO
// extended data when childInfo is set.
func (s *session) writeList(resp string, d *imap.ListData, childInfo []string) {
	e := &s.e
	e.raw("* ").raw(resp).sp().attrs(d.Attrs).sp()
	switch d.Delim {
	case 0:
		e.nil()
	case store.Separator:
		e.str(string(store.Separator)) // a constant: nothing to allocate
	default:
		e.str(string(d.Delim))
	}
	e.sp().mailbox(d.Mailbox)
	if len(childInfo) > 0 {
		e.raw(` ("CHILDINFO" (`)
		for i, c := range childInfo {
			if i > 0 {
				e.sp()
			}
			e.str(c)
		}
		e.raw("))")
	}
	e.crlf()
}

// matchList reports whether name matches reference and pattern (RFC 9051
// 6.3.9): "*" matches anything, "%" anything but the delimiter; INBOX
// matches in any case.
func matchList(name string, delim rune, ref, pattern string) bool {
	d := string(delim)
	if strings.HasPrefix(pattern, d) {
		ref = ""
		pattern = strings.TrimPrefix(pattern, d)
	}
	full := pattern
	if ref != "" {
		if !strings.HasSuffix(ref, d) {
			ref += d
		}
		full = ref + pattern
	}
	if name == "INBOX" && len(full) >= 5 && strings.EqualFold(full[:5], "INBOX") {
		full = "INBOX" + full[5:]
	}
	return wildMatch(name, d[0], full)
}

func wildMatch(name string, delim byte, pat string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*', '%':
			w := pat[0]
			rest := pat[1:]
			for j := 0; j <= len(name); j++ {
				if wildMatch(name[j:], delim, rest) {
					return true
				}
				if j < len(name) && w == '%' && name[j] == delim {
					return false
				}
			}
			return false
		default:
			if len(name) == 0 || name[0] != pat[0] {
				return false
			}
			name, pat = name[1:], pat[1:]
		}
	}
	return len(name) == 0
}

// statusItems reads STATUS's item list.
func statusItems(p *parser) (*imap.StatusOptions, []string, error) {
	var o imap.StatusOptions
	items := make([]string, 0, 8)
	err := p.list(false, func() error {
		a, err := p.atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		switch a {
		case "MESSAGES":
			o.NumMessages = true
		case "RECENT":
			o.NumRecent = true
		case "UIDNEXT":
			o.UIDNext = true
		case "UIDVALIDITY":
			o.UIDValidity = true
		case "UNSEEN":
			o.NumUnseen = true
		case "DELETED":
			o.NumDeleted = true
		case "SIZE":
			o.Size = true
		case "APPENDLIMIT":
			o.AppendLimit = true
		case "DELETED-STORAGE":
			o.DeletedStorage = true
		case "MAILBOXID", "HIGHESTMODSEQ":
		default:
			return badSyntax("Unknown STATUS item %q", a)
		}
		if !slices.Contains(items, a) {
			items = append(items, a)
		}
		return nil
	})
	return &o, items, err
}

func (s *session) cmdStatus(c *cmd) error {
	p := c.p
	name, err := p.spMailbox()
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	o, items, err := statusItems(p)
	if err != nil {
		return err
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if slices.Contains(items, "HIGHESTMODSEQ") {
		s.condstore = true // RFC 7162 3.1: a CONDSTORE enabling command
	}
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		return clientError(err, "status")
	}
	s.writeStatus(mb.ID, s.statusData(mb, o), items)
	return nil
}

// statusData answers STATUS from the counts the store keeps: one read.
func (s *session) statusData(mb *store.Mailbox, options *imap.StatusOptions) *imap.StatusData {
	// The counts live in one array: one allocation, not one each.
	counts := new(struct {
		data imap.StatusData
		n    [5]uint32
	})
	data, next := &counts.data, 0
	*data = imap.StatusData{Mailbox: mb.Name, HighestModSeq: mb.ModSeq}
	u32 := func(v uint32) *uint32 {
		p := &counts.n[next]
		*p, next = v, next+1
		return p
	}
	if options.NumMessages {
		data.NumMessages = u32(mb.Messages)
	}
	if options.NumRecent {
		data.NumRecent = u32(s.srv.recentCount(mb))
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(mb.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = mb.UIDValidity
	}
	if options.NumUnseen {
		data.NumUnseen = u32(mb.Unseen)
	}
	if options.NumDeleted {
		data.NumDeleted = u32(mb.Deleted)
	}
	if options.Size {
		size := mb.Size
		data.Size = &size
	}
	if options.AppendLimit {
		data.AppendLimit = u32(s.srv.opts.AppendLimit)
	}
	if options.DeletedStorage {
		n, err := s.deletedStorage(mb)
		if err != nil {
			s.log.Warn("status: deleted storage", "mailbox", mb.ID, "err", err)
		}
		data.DeletedStorage = &n
	}
	return data
}

// mailboxID is RFC 8474's MAILBOXID: the store's mailbox ID, never reused.
func mailboxID(id store.MailboxID) string { return "M" + strconv.FormatUint(uint64(id), 10) }

func (s *session) writeStatus(id store.MailboxID, d *imap.StatusData, items []string) {
	e := &s.e
	e.raw("* STATUS ").mailbox(d.Mailbox).raw(" (")
	for i, it := range items {
		if i > 0 {
			e.sp()
		}
		e.raw(it).sp()
		switch it {
		case "MESSAGES":
			e.num(*d.NumMessages)
		case "RECENT":
			e.num(*d.NumRecent)
		case "UIDNEXT":
			e.num(uint32(d.UIDNext))
		case "UIDVALIDITY":
			e.num(d.UIDValidity)
		case "UNSEEN":
			e.num(*d.NumUnseen)
		case "DELETED":
			e.num(*d.NumDeleted)
		case "SIZE":
			e.num64(*d.Size)
		case "APPENDLIMIT":
			e.num(*d.AppendLimit)
		case "DELETED-STORAGE":
			e.num64(*d.DeletedStorage)
		case "MAILBOXID":
			e.raw("(").raw(mailboxID(id)).raw(")")
		case "HIGHESTMODSEQ":
			e.num64(int64(d.HighestModSeq))
		}
	}
	e.byte(')').crlf()
}

// maxMultiAppend bounds the messages of one MULTIAPPEND (RFC 3502); their
// total size is bounded by the append limit times maxMultiAppendSize.
const (
	maxMultiAppend     = 1000
	maxMultiAppendSize = 4
)

// cmdAppend stores one message (RFC 9051 6.3.12; UTF8 (literal8), RFC
// 6855) or several, atomically (MULTIAPPEND, RFC 3502). A message over the
// limit is refused before its octets are asked for; a LITERAL+ one, whose
// octets come unasked, is read and discarded first, so they are never
// taken for commands.
func (s *session) cmdAppend(c *cmd) error {
	p := c.p
	name, err := p.spMailbox()
	if err != nil {
		return err
	}
	mb, mbErr := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if mbErr != nil {
		mbErr = clientError(mbErr, "append")
		if e, ok := mbErr.(*imap.Error); ok && e.Code == imap.ResponseCodeNonExistent {
			e.Code = imap.ResponseCodeTryCreate // RFC 9051 6.3.12
		}
	}
	var items []store.AppendItem
	var refused error // the first refusal; later messages are read and dropped
	total := int64(0)
	for {
		if err := p.sp(); err != nil {
			return err
		}
		it, n, sync, utf8Ext, err := appendHeader(p)
		if err != nil {
			return err
		}
		limit := int64(s.srv.opts.AppendLimit)
		switch {
		case refused == nil && mbErr != nil:
			refused = mbErr
		case refused == nil && (n > limit || total+n > limit*maxMultiAppendSize):
			refused = no(imap.ResponseCodeTooBig, "Message too big")
		case refused == nil && len(items) >= maxMultiAppend:
			refused = no(imap.ResponseCodeLimit, "Too many messages in one APPEND")
		}
		if refused != nil {
			if sync {
				p.eol = true // the client sends nothing more
				return refused
			}
			s.nc.SetReadDeadline(time.Now().Add(literalTimeout))
			if _, err := io.CopyN(io.Discard, p.br, n); err != nil {
				p.ioErr = err
				return err
			}
		} else {
			if sync {
				if err := s.cont("Ready for literal data"); err != nil {
					return err
				}
			}
			s.nc.SetReadDeadline(time.Now().Add(literalTimeout))
			it.Body = make([]byte, n)
			if _, err := io.ReadFull(p.br, it.Body); err != nil {
				p.ioErr = err
				return err
			}
			total += n
			items = append(items, it)
		}
		s.nc.SetReadDeadline(time.Now().Add(cmdReadTimeout))
		if utf8Ext {
			if err := p.expect(')', ")"); err != nil {
				return err
			}
		}
		if p.atEnd() {
			break
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	ds, err := s.srv.opts.Store.AppendWithinQuota(s.writeCtx(), mb.ID, items)
	if err != nil {
		s.noteOverQuota(err, "imap-append")
		return clientError(err, "append")
	}
	uids := make([]store.UID, len(ds))
	for i, d := range ds {
		uids[i] = d.UID
	}
	return ok(imap.ResponseCode(fmt.Sprintf("APPENDUID %d %s", ds[0].UIDValidity, uidSet(uids))), "APPEND completed")
}

// appendHeader reads one message's [flags] [date-time] and literal header
// (RFC 3502 append-message), up to the literal's octets; utf8Ext: it was
// sent as UTF8 (literal8), whose ")" follows the octets (RFC 6855).
func appendHeader(p *parser) (it store.AppendItem, n int64, sync, utf8Ext bool, err error) {
	var flags []imap.Flag
	b, err := p.peek()
	if err != nil {
		return it, 0, false, false, err
	}
	if b == '(' {
		if flags, err = p.flagList(); err != nil {
			return it, 0, false, false, err
		}
		if err := p.sp(); err != nil {
			return it, 0, false, false, err
		}
		if b, err = p.peek(); err != nil {
			return it, 0, false, false, err
		}
	}
	if b == '"' {
		if it.Date, err = p.dateTime(); err != nil {
			return it, 0, false, false, err
		}
		if err := p.sp(); err != nil {
			return it, 0, false, false, err
		}
		if b, err = p.peek(); err != nil {
			return it, 0, false, false, err
		}
	}
	switch b {
	case 'U', 'u':
		a, err := p.atom()
		if err != nil {
			return it, 0, false, false, err
		}
		if !strings.EqualFold(a, "UTF8") {
			return it, 0, false, false, badSyntax("Expected a literal")
		}
		if err := p.sp(); err != nil {
			return it, 0, false, false, err
		}
		if err := p.expect('(', "("); err != nil {
			return it, 0, false, false, err
		}
		if err := p.expect('~', "~{"); err != nil {
			return it, 0, false, false, err
		}
		utf8Ext = true
	case '~', '{':
		p.next()
	default:
		return it, 0, false, false, badSyntax("Expected a literal")
	}
	n, sync, err = p.literalHeader(utf8Ext || b == '~')
	if err != nil {
		return it, 0, false, false, err
	}
	flags = slices.DeleteFunc(flags, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(flagRecent)) })
	it.Flags = storeFlags(flags)
	return it, n, sync, utf8Ext, nil
}

// qresyncParam is SELECT's QRESYNC parameter (RFC 7162 3.2.5).
type qresyncParam struct {
	uidValidity uint32
	modSeq      uint64
	known       imap.UIDSet // nil: all
}

// qresyncParams reads "(" uidvalidity SP modseq [SP known-uids [SP
// seq-match]] ")"; seq-match, an optimisation, is read and not used.
func qresyncParams(p *parser) (*qresyncParam, error) {
	var q qresyncParam
	if err := p.expect('(', "("); err != nil {
		return nil, err
	}
	uv, err := p.number()
	if err != nil {
		return nil, err
	}
	if err := p.sp(); err != nil {
		return nil, err
	}
	ms, err := p.number64()
	if err != nil {
		return nil, err
	}
	q.uidValidity, q.modSeq = uv, uint64(ms)
	if ok, err := p.accept(' '); err != nil {
		return nil, err
	} else if ok {
		if b, err := p.peek(); err != nil {
			return nil, err
		} else if b != '(' {
			set, err := p.numSet(true)
			if err != nil {
				return nil, err
			}
			if imap.IsSearchRes(set) {
				return nil, badSyntax("$ is not a known-uids set")
			}
			q.known = set.(imap.UIDSet)
			if _, err := p.accept(' '); err != nil {
				return nil, err
			}
		}
		if b, err := p.peek(); err != nil {
			return nil, err
		} else if b == '(' {
			p.next()
			if _, err := p.numSet(false); err != nil {
				return nil, err
			}
			if err := p.sp(); err != nil {
				return nil, err
			}
			if _, err := p.numSet(true); err != nil {
				return nil, err
			}
			if err := p.expect(')', ")"); err != nil {
				return nil, err
			}
		}
	}
	return &q, p.expect(')', ")")
}

// resync sends what changed since the client's MODSEQ: the UIDs expunged
// (VANISHED (EARLIER)), then the flags of the messages changed (RFC 7162
// 3.2.5.2), within the known UIDs.
func (s *session) resync(v *view, q *qresyncParam) error {
	st := s.srv.opts.Store
	known := func(u store.UID) bool { return q.known == nil || search.InUIDSet(q.known, imap.UID(u)) }
	gone, err := st.Vanished(v.m.id, q.modSeq)
	if err != nil {
		return err
	}
	gone = slices.DeleteFunc(gone, func(u store.UID) bool { return !known(u) || v.seqOf(u) > 0 })
	if len(gone) > 0 {
		s.e.raw("* VANISHED (EARLIER) ").raw(numSetString(uidSet(gone))).crlf()
	}
	w := &fetchWriter{s: s, modseq: true, changedSince: q.modSeq}
	uids := v.uids
	if q.known != nil {
		uids = slices.DeleteFunc(slices.Clone(uids), func(u store.UID) bool { return !known(u) })
	}
	if len(uids) == 0 {
		return nil
	}
	return s.fetchUIDs(w, uids, &imap.FetchOptions{UID: true, Flags: true})
}

// vanishedSince writes VANISHED (EARLIER) for the UIDs of set expunged
// since modseq (UID FETCH … (CHANGEDSINCE n VANISHED), RFC 7162 3.2.6).
func (s *session) vanishedSince(set imap.UIDSet, modseq uint64) error {
	v := s.view
	if imap.IsSearchRes(set) {
		v.m.mu.Lock()
		set = uidSet(v.searchRes)
		v.m.mu.Unlock()
	}
	v.m.mu.Lock()
	last := imap.UID(v.m.uidNext - 1)
	v.m.mu.Unlock()
	set = slices.Clone(set)
	for i := range set {
		if set[i].Start == 0 {
			set[i].Start = last
		}
		if set[i].Stop == 0 {
			set[i].Stop = last
		}
	}
	gone, err := s.srv.opts.Store.Vanished(v.m.id, modseq)
	if err != nil {
		return clientError(err, "fetch")
	}
	gone = slices.DeleteFunc(gone, func(u store.UID) bool { return !search.InUIDSet(set, imap.UID(u)) })
	if len(gone) > 0 {
		s.e.raw("* VANISHED (EARLIER) ").raw(numSetString(uidSet(gone))).crlf()
	}
	return nil
}
