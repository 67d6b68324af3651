package imap

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"petrel/store"
)

// systemFlags are shown in FLAGS; PERMANENTFLAGS adds \* since any keyword
// is stored (RFC 9051 7.1).
var (
	systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft,
		imap.FlagForwarded, imap.FlagJunk, imap.FlagNotJunk, imap.FlagMDNSent}
	permanentFlags = append(slices.Clone(systemFlags), imap.FlagWildcard)
)

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.touch()
	s.unselect()
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		return nil, clientError(err, "select")
	}
	m, err := s.srv.openMailbox(mb.ID)
	if err != nil {
		return nil, clientError(err, "select")
	}
	v := m.newView(options.ReadOnly)
	s.view = v
	m.mu.Lock()
	uidNext, uidValidity := m.uidNext, m.uidValidity
	m.mu.Unlock()
	data := &imap.SelectData{
		Flags:          systemFlags,
		PermanentFlags: permanentFlags,
		NumMessages:    uint32(len(v.uids)),
		UIDNext:        imap.UID(uidNext),
		UIDValidity:    uidValidity,
	}
	if options.ReadOnly {
		data.PermanentFlags = []imap.Flag{}
	}
	if s.conn.EnabledCaps().Has(imap.CapIMAP4rev2) {
		// RFC 9051 6.3.2: SELECT returns the mailbox's LIST response.
		has, err := s.hasChildren(mb.Name)
		if err != nil {
			return nil, clientError(err, "select")
		}
		data.List = &imap.ListData{Delim: store.Separator, Mailbox: mb.Name, Attrs: mailboxAttrs(mb, has)}
	}
	return data, nil
}

// mailboxAttrs are the attributes LIST shows for a mailbox (before
// \Subscribed, which is shown on request).
func mailboxAttrs(mb *store.Mailbox, hasChildren bool) []imap.MailboxAttr {
	attrs := []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}
	if hasChildren {
		attrs[0] = imap.MailboxAttrHasChildren
	}
	if mb.SpecialUse != "" {
		attrs = append(attrs, imap.MailboxAttr(mb.SpecialUse))
	}
	return attrs
}

func (s *session) Create(name string, options *imap.CreateOptions) error {
	s.touch()
	name = strings.TrimSuffix(name, string(store.Separator)) // RFC 9051 6.3.4
	use := ""
	if options != nil && len(options.SpecialUse) > 0 {
		if len(options.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeUseAttr, Text: "One special-use attribute per mailbox"}
		}
		use = string(options.SpecialUse[0])
		switch imap.MailboxAttr(use) {
		case imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
			imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash:
		default:
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeUseAttr, Text: "Unsupported special-use attribute"}
		}
	}
	_, err := s.srv.opts.Store.CreateMailbox(s.ctx, s.acct.ID, name, use)
	return clientError(err, "create")
}

// Delete deletes a mailbox and its messages (RFC 9051 6.3.4). If it has
// children they stay, and its name stays in LIST as a \Noselect level of
// the hierarchy for as long as they exist (see List). Deleting such a
// level is an error while it has children; once the last child is gone,
// so is the name.
func (s *session) Delete(name string) error {
	s.touch()
	err := s.srv.opts.Store.DeleteMailbox(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNoMailbox) {
		has, herr := s.hasChildren(name)
		if herr != nil {
			return clientError(herr, "delete")
		}
		if has {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeHasChildren,
				Text: "Name is not a mailbox and has inferior hierarchical names"}
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

func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	s.touch()
	newName = strings.TrimSuffix(newName, string(store.Separator))
	return clientError(s.srv.opts.Store.RenameMailbox(s.ctx, s.acct.ID, oldName, newName), "rename")
}

func (s *session) Subscribe(name string) error {
	s.touch()
	return clientError(s.srv.opts.Store.SetSubscribed(s.ctx, s.acct.ID, name, true), "subscribe")
}

func (s *session) Unsubscribe(name string) error {
	s.touch()
	return clientError(s.srv.opts.Store.SetSubscribed(s.ctx, s.acct.ID, name, false), "unsubscribe")
}

// List serves LIST, LSUB and their RFC 5258/5819/6154 options.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	s.touch()
	if len(patterns) == 1 && patterns[0] == "" {
		// RFC 9051 6.3.9: the hierarchy delimiter and root.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: store.Separator})
	}
	mbs, err := s.srv.opts.Store.Mailboxes(s.acct.ID)
	if err != nil {
		return clientError(err, "list")
	}
	// Levels of the hierarchy that are no mailbox: the parents left by
	// DELETE of a mailbox with children. They are listed \Noselect, or
	// \NonExistent to an IMAP4rev2 client (RFC 9051 7.3.1: it implies
	// \Noselect, and such names are returned only where "%" asks for
	// levels of hierarchy, RFC 9051 6.3.9).
	isMailbox := make(map[string]bool, len(mbs))
	for _, mb := range mbs {
		isMailbox[mb.Name] = true
	}
	listed := maps.Clone(isMailbox)
	for _, mb := range mbs {
		for i, r := range mb.Name {
			if r != store.Separator {
				continue
			}
			if parent := mb.Name[:i]; !listed[parent] {
				listed[parent] = true
				mbs = append(mbs, store.Mailbox{Name: parent})
			}
		}
	}
	// INBOX first, as clients expect; the rest by name.
	slices.SortStableFunc(mbs, func(a, b store.Mailbox) int {
		if (a.Name == "INBOX") != (b.Name == "INBOX") {
			if a.Name == "INBOX" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	hasChildren := func(name string) bool {
		p := name + string(store.Separator)
		return slices.ContainsFunc(mbs, func(m store.Mailbox) bool { return strings.HasPrefix(m.Name, p) })
	}
	rev2 := s.conn.EnabledCaps().Has(imap.CapIMAP4rev2)
	for _, mb := range mbs {
		matches := func(p string) bool { return imapserver.MatchList(mb.Name, store.Separator, ref, p) }
		if !slices.ContainsFunc(patterns, matches) {
			continue
		}
		if !isMailbox[mb.Name] {
			if options.SelectSubscribed || options.SelectSpecialUse {
				continue
			}
			attr := imap.MailboxAttrNoSelect
			if rev2 {
				attr = imap.MailboxAttrNonExistent
				if !slices.ContainsFunc(patterns, func(p string) bool { return strings.HasSuffix(p, "%") && matches(p) }) {
					continue
				}
			}
			data := &imap.ListData{Delim: store.Separator, Mailbox: mb.Name, Attrs: []imap.MailboxAttr{attr, imap.MailboxAttrHasChildren}}
			if err := w.WriteList(data); err != nil {
				return err
			}
			continue
		}
		if options.SelectSubscribed && !mb.Subscribed {
			continue
		}
		if options.SelectSpecialUse && mb.SpecialUse == "" {
			continue
		}
		data := &imap.ListData{Delim: store.Separator, Mailbox: mb.Name, Attrs: mailboxAttrs(&mb, hasChildren(mb.Name))}
		if mb.Subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil {
			data.Status = s.statusData(&mb, options.ReturnStatus)
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	s.touch()
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		return nil, clientError(err, "status")
	}
	return s.statusData(mb, options), nil
}

// statusData answers STATUS from the counts the store keeps: one read.
func (s *session) statusData(mb *store.Mailbox, options *imap.StatusOptions) *imap.StatusData {
	data := &imap.StatusData{Mailbox: mb.Name}
	u32 := func(v uint32) *uint32 { return &v }
	if options.NumMessages {
		data.NumMessages = u32(mb.Messages)
	}
	if options.NumRecent {
		data.NumRecent = u32(0)
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
	return data
}

// Append stores a message. One over the limit is refused here, not by
// imapserver (see AppendLimit), which then reads and discards the literal.
func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	s.touch()
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		err = clientError(err, "append")
		if e, ok := err.(*imap.Error); ok && e.Code == imap.ResponseCodeNonExistent {
			e.Code = imap.ResponseCodeTryCreate // RFC 9051 6.3.12
		}
		return nil, err
	}
	if r.Size() > int64(s.srv.opts.AppendLimit) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	body := make([]byte, r.Size())
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("append: read literal: %w", err)
	}
	d, err := s.srv.opts.Store.Append(s.writeCtx(), mb.ID, body, storeFlags(options.Flags), options.Time)
	if err != nil {
		return nil, clientError(err, "append")
	}
	return &imap.AppendData{UID: imap.UID(d.UID), UIDValidity: d.UIDValidity}, nil
}

// codeUseAttr is RFC 6154's response code for a refused special-use
// attribute (go-imap has no constant for it).
const codeUseAttr imap.ResponseCode = "USEATTR"
