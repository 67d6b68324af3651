package imap

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// NOTIFY (RFC 5465): the client names the mailboxes it wants to hear about
// and the events, and the server tells it as they happen, between commands
// as well as at their end (no IDLE needed):
//
//   - the selected mailbox (SELECTED, SELECTED-DELAYED): EXISTS, EXPUNGE
//     (held back until a command may report it for SELECTED-DELAYED) and
//     FETCH FLAGS as IDLE sends them, between commands when one of the
//     queued changes is an event asked for (else at the next command, as
//     without NOTIFY); MessageNew may name FETCH items sent for each new
//     message;
//   - other mailboxes (PERSONAL, INBOXES, SUBSCRIBED, SUBTREE, MAILBOXES):
//     an unsolicited STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN, and
//     HIGHESTMODSEQ once CONDSTORE is on) after MessageNew, MessageExpunge
//     or FlagChange events, one per mailbox however many events; LIST after
//     MailboxName (created, deleted: \NonExistent, renamed: OLDNAME) and
//     SubscriptionChange (\Subscribed or not) events; METADATA with the
//     entries' names after MailboxMetadataChange and ServerMetadataChange.
//
// Message events come from the store's watch of each mailbox in scope:
// the callback only marks the mailbox and wakes the session, which reads
// the counts when it reports, so the STATUS is exact when sent. Mailbox
// names and subscriptions are compared with the last ones told: the
// comparison runs when a session of this server creates, deletes, renames
// or (un)subscribes a mailbox of the account, when a watched mailbox is
// deleted, and at the end of every command.

// notifyEvents are the events asked for one filter.
type notifyEvents struct {
	messageNew, messageExpunge, flagChange bool
	mailboxName, subscriptionChange        bool
	mailboxMetadata, serverMetadata        bool // MailboxMetadataChange, ServerMetadataChange
	// fetch: FETCH items for each new message (SELECTED only).
	fetch *imap.FetchOptions
	fw    *fetchWriter
}

func (e *notifyEvents) messages() bool { return e.messageNew || e.messageExpunge || e.flagChange }

// notifyFilter is one event group of NOTIFY SET other than the selected
// mailbox's.
type notifyFilter struct {
	kind  string   // PERSONAL, INBOXES, SUBSCRIBED, SUBTREE, MAILBOXES
	names []string // of SUBTREE and MAILBOXES
	ev    notifyEvents
}

func (f *notifyFilter) matches(mb *store.Mailbox) bool {
	switch f.kind {
	case "PERSONAL":
		return true
	case "INBOXES":
		return mb.Name == "INBOX"
	case "SUBSCRIBED":
		return mb.Subscribed
	case "SUBTREE":
		return slices.ContainsFunc(f.names, func(n string) bool {
			return mb.Name == n || strings.HasPrefix(mb.Name, n+string(store.Separator))
		})
	default: // MAILBOXES
		return slices.Contains(f.names, mb.Name)
	}
}

// notifier is a session's NOTIFY state.
type notifier struct {
	status   bool          // SET STATUS
	selected *notifyEvents // SELECTED or SELECTED-DELAYED; nil: neither
	delayed  bool          // SELECTED-DELAYED
	filters  []notifyFilter

	acct uint64
	wake wakeup // something to report

	mu      sync.Mutex // guards changed, rescan, meta, want and overflow (other goroutines set them)
	changed map[store.MailboxID]bool
	rescan  bool
	meta    []metaChange                     // METADATA entries set, to tell
	want    map[store.MailboxID]notifyEvents // of the watched mailboxes
	// overflow: more METADATA changes came than a session holds; NOTIFY
	// ends with NOTIFICATIONOVERFLOW (RFC 5465).
	overflow bool

	// Session goroutine only.
	watches map[store.MailboxID]func() // stop functions
	known   map[store.MailboxID]store.Mailbox
	subs    map[string]bool // subscribed names (with MailboxName or SubscriptionChange)
}

// eventsFor is the union of the events the filters ask for mb.
func (n *notifier) eventsFor(mb *store.Mailbox) notifyEvents {
	var ev notifyEvents
	for i := range n.filters {
		f := &n.filters[i]
		if f.matches(mb) {
			ev.messageNew = ev.messageNew || f.ev.messageNew
			ev.messageExpunge = ev.messageExpunge || f.ev.messageExpunge
			ev.flagChange = ev.flagChange || f.ev.flagChange
			ev.mailboxName = ev.mailboxName || f.ev.mailboxName
			ev.subscriptionChange = ev.subscriptionChange || f.ev.subscriptionChange
			ev.mailboxMetadata = ev.mailboxMetadata || f.ev.mailboxMetadata
		}
	}
	return ev
}

// names: some filter asks for MailboxName or SubscriptionChange.
func (n *notifier) names() bool {
	return slices.ContainsFunc(n.filters, func(f notifyFilter) bool { return f.ev.mailboxName || f.ev.subscriptionChange })
}

func (n *notifier) poke() {
	n.wake.poke()
}

// onEvent is a watched mailbox's store callback (on the committer: memory
// only, no blocking).
func (n *notifier) onEvent(ev store.Event) {
	n.mu.Lock()
	want := n.want[ev.Mailbox]
	switch ev.Kind {
	case store.EventAdded:
		if !want.messageNew {
			n.mu.Unlock()
			return
		}
		n.changed[ev.Mailbox] = true
	case store.EventExpunged:
		if !want.messageExpunge {
			n.mu.Unlock()
			return
		}
		n.changed[ev.Mailbox] = true
	case store.EventFlags:
		if !want.flagChange {
			n.mu.Unlock()
			return
		}
		n.changed[ev.Mailbox] = true
	case store.EventMailboxDeleted:
		n.rescan = true
	}
	n.mu.Unlock()
	n.poke()
}

// metaChange is one SETMETADATA's entries of a mailbox ("": the server's).
type metaChange struct {
	mailbox string
	entries []string
}

// badEvent lists the events Petrel reports (RFC 5465 BADEVENT).
const badEvent imap.ResponseCode = "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)"

// cmdNotify: NOTIFY NONE, NOTIFY SET [STATUS] event-group… (RFC 5465 3.1).
func (s *session) cmdNotify(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	verb, err := p.atom()
	if err != nil {
		return err
	}
	switch strings.ToUpper(verb) {
	case "NONE":
		if err := p.crlf(); err != nil {
			return err
		}
		s.stopNotify()
		return nil
	case "SET":
	default:
		return badSyntax("NOTIFY takes SET or NONE")
	}
	n := &notifier{acct: s.acct.ID, changed: map[store.MailboxID]bool{}}
	var unsupported bool
	for first := true; ; first = false {
		if err := p.sp(); err != nil {
			return err
		}
		b, err := p.peek()
		if err != nil {
			return err
		}
		if first && b != '(' {
			a, err := p.atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(a, "STATUS") {
				return badSyntax("Expected STATUS or an event group")
			}
			n.status = true
			continue
		}
		u, err := s.notifyGroup(p, n)
		if err != nil {
			return err
		}
		unsupported = unsupported || u
		if b, err := p.peek(); err != nil {
			return err
		} else if b != ' ' {
			break
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	if unsupported {
		return no(badEvent, "Event not supported")
	}
	s.stopNotify()
	s.notify = n
	s.srv.addNotifier(n)
	if err := s.notifyRescan(false); err != nil {
		return err
	}
	if n.status {
		for id, mb := range n.known {
			if s.view != nil && id == s.view.m.id {
				continue
			}
			if ev := n.eventsFor(&mb); ev.messages() {
				n.changed[id] = true
			}
		}
	}
	return s.notifyReport(true, false)
}

// notifyGroup reads one "(" filter-mailboxes SP events ")"; unsupported
// reports an event Petrel does not send.
func (s *session) notifyGroup(p *parser, n *notifier) (unsupported bool, err error) {
	if err := p.expect('(', "("); err != nil {
		return false, err
	}
	kind, err := p.atom()
	if err != nil {
		return false, err
	}
	kind = strings.ToUpper(kind)
	f := notifyFilter{kind: kind}
	switch kind {
	case "SELECTED", "SELECTED-DELAYED":
		if n.selected != nil {
			return false, badSyntax("SELECTED given twice")
		}
	case "PERSONAL", "INBOXES", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		if err := p.sp(); err != nil {
			return false, err
		}
		if b, err := p.peek(); err != nil {
			return false, err
		} else if b == '(' {
			err = p.list(false, func() error {
				name, err := p.mailbox()
				f.names = append(f.names, name)
				return err
			})
			if err != nil {
				return false, err
			}
		} else {
			name, err := p.mailbox()
			if err != nil {
				return false, err
			}
			f.names = append(f.names, name)
		}
		for i, name := range f.names {
			if norm, err := store.NormalizeMailboxName(name); err == nil {
				f.names[i] = norm
			}
		}
	default:
		return false, badSyntax("Unknown NOTIFY mailbox filter %q", kind)
	}
	if err := p.sp(); err != nil {
		return false, err
	}
	selected := strings.HasPrefix(kind, "SELECTED")
	b, err := p.peek()
	if err != nil {
		return false, err
	}
	if b != '(' {
		a, err := p.atom()
		if err != nil {
			return false, err
		}
		if !strings.EqualFold(a, "NONE") {
			return false, badSyntax("Expected events or NONE")
		}
	} else {
		err = p.list(false, func() error {
			name, err := p.atom()
			if err != nil {
				return err
			}
			switch strings.ToLower(name) {
			case "messagenew":
				f.ev.messageNew = true
				if b, err := p.peek(); err == nil && b == ' ' {
					// fetch-att list, or the next event
					if c, err := p.br.Peek(2); err == nil && c[1] == '(' {
						p.next()
						if !selected {
							return badSyntax("FETCH items for MessageNew only on SELECTED")
						}
						return s.notifyFetchAtts(p, &f.ev)
					}
				}
			case "messageexpunge":
				f.ev.messageExpunge = true
			case "flagchange":
				f.ev.flagChange = true
			case "mailboxname":
				f.ev.mailboxName = true
			case "subscriptionchange":
				f.ev.subscriptionChange = true
			case "mailboxmetadatachange":
				f.ev.mailboxMetadata = true
			case "servermetadatachange":
				f.ev.serverMetadata = true
			default: // AnnotationChange, extensions
				unsupported = true
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	if err := p.expect(')', ")"); err != nil {
		return false, err
	}
	ev := &f.ev
	if ev.messageNew != ev.messageExpunge {
		return false, bad("MessageNew and MessageExpunge go together (RFC 5465 5)")
	}
	if ev.flagChange && !ev.messageNew {
		return false, bad("FlagChange needs MessageNew and MessageExpunge (RFC 5465 5)")
	}
	if selected {
		if ev.mailboxName || ev.subscriptionChange || ev.mailboxMetadata || ev.serverMetadata {
			return false, bad("Only message events for SELECTED")
		}
		n.selected, n.delayed = ev, kind == "SELECTED-DELAYED"
		return unsupported, nil
	}
	n.filters = append(n.filters, f)
	return unsupported, nil
}

// notifyFetchAtts reads MessageNew's "(" fetch-att… ")"; only items that
// change nothing (no BODY[] without .PEEK).
func (s *session) notifyFetchAtts(p *parser, ev *notifyEvents) error {
	o := &imap.FetchOptions{}
	w := &fetchWriter{s: s, obsolete: map[*imap.FetchItemBodySection]string{}}
	if err := p.list(false, func() error { return fetchAtt(p, o, w, false) }); err != nil {
		return err
	}
	if slices.ContainsFunc(o.BodySection, func(b *imap.FetchItemBodySection) bool { return !b.Peek }) ||
		slices.ContainsFunc(o.BinarySection, func(b *imap.FetchItemBinarySection) bool { return !b.Peek }) {
		return badSyntax("MessageNew's FETCH items must not set \\Seen (use BODY.PEEK)")
	}
	ev.fetch, ev.fw = o, w
	return nil
}

// stopNotify ends NOTIFY (NOTIFY NONE, a new NOTIFY SET, the session's
// end).
func (s *session) stopNotify() {
	n := s.notify
	if n == nil {
		return
	}
	s.notify = nil
	s.srv.removeNotifier(n)
	for _, stop := range n.watches {
		stop()
	}
}

// notifyRescan compares the account's mailboxes with those last told:
// watches start and stop as mailboxes enter and leave the filters, and
// (tell) LIST responses report names and subscriptions that changed.
func (s *session) notifyRescan(tell bool) error {
	n := s.notify
	n.mu.Lock()
	n.rescan = false
	n.mu.Unlock()
	mbs, err := s.srv.opts.Store.Mailboxes(n.acct)
	if err != nil {
		return fmt.Errorf("notify: list mailboxes: %w", err)
	}
	now := make(map[store.MailboxID]store.Mailbox, len(mbs))
	for _, mb := range mbs {
		now[mb.ID] = mb
	}
	// Subscribed names, of mailboxes or not (a subscription outlives its
	// mailbox), for SubscriptionChange.
	var subs map[string]bool
	if n.names() {
		subs = map[string]bool{}
		for _, mb := range mbs {
			if mb.Subscribed {
				subs[mb.Name] = true
			}
		}
		orphans, err := s.srv.opts.Store.Subscriptions(n.acct)
		if err != nil {
			return fmt.Errorf("notify: subscriptions: %w", err)
		}
		for _, name := range orphans {
			subs[name] = true
		}
	}
	if tell && n.names() {
		renamed := map[string]bool{}
		exists := map[string]bool{}
		for _, mb := range mbs {
			exists[mb.Name] = true
			old, had := n.known[mb.ID]
			ev := n.eventsFor(&mb)
			switch {
			case !had && ev.mailboxName:
				s.writeList("LIST", &imap.ListData{Delim: store.Separator, Mailbox: mb.Name}, nil)
			case had && old.Name != mb.Name && (ev.mailboxName || n.eventsFor(&old).mailboxName):
				renamed[old.Name], renamed[mb.Name] = true, true
				s.writeRenamed(old.Name, mb.Name)
			}
		}
		var gone []string
		for id, old := range n.known {
			if _, ok := now[id]; !ok && n.eventsFor(&old).mailboxName {
				gone = append(gone, old.Name)
			}
		}
		slices.Sort(gone)
		for _, name := range gone {
			s.writeList("LIST", &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNonExistent}, Delim: store.Separator, Mailbox: name}, nil)
		}
		var changedSubs []string
		for name := range subs {
			if !n.subs[name] {
				changedSubs = append(changedSubs, name)
			}
		}
		for name := range n.subs {
			if !subs[name] {
				changedSubs = append(changedSubs, name)
			}
		}
		slices.Sort(changedSubs)
		for _, name := range changedSubs {
			if renamed[name] || !n.eventsFor(&store.Mailbox{Name: name, Subscribed: true}).subscriptionChange {
				continue
			}
			var attrs []imap.MailboxAttr
			if subs[name] {
				attrs = append(attrs, imap.MailboxAttrSubscribed)
			}
			if !exists[name] {
				attrs = append(attrs, imap.MailboxAttrNonExistent)
			}
			s.writeList("LIST", &imap.ListData{Attrs: attrs, Delim: store.Separator, Mailbox: name}, nil)
		}
	}
	n.known, n.subs = now, subs
	// Watches follow the filters' message events.
	want := map[store.MailboxID]notifyEvents{}
	for id, mb := range now {
		if ev := n.eventsFor(&mb); ev.messages() {
			want[id] = ev
		}
	}
	n.mu.Lock()
	n.want = want
	n.mu.Unlock()
	if n.watches == nil {
		n.watches = map[store.MailboxID]func(){}
	}
	for id, stop := range n.watches {
		if _, ok := want[id]; !ok {
			stop()
			delete(n.watches, id)
		}
	}
	for id := range want {
		if _, ok := n.watches[id]; ok {
			continue
		}
		_, stop, err := s.srv.opts.Store.Watch(id, n.onEvent)
		if err != nil {
			continue // deleted meanwhile: the next rescan sees it gone
		}
		n.watches[id] = stop
	}
	return nil
}

// writeRenamed writes RFC 5465 5.4's LIST with the old name.
func (s *session) writeRenamed(oldName, newName string) {
	e := &s.e
	e.raw(`* LIST () "`).byte(store.Separator).raw(`" `).mailbox(newName).raw(` ("OLDNAME" (`).mailbox(oldName).raw("))").crlf()
}

// notifyReport writes what NOTIFY asks to be told: changed names, STATUS
// of changed mailboxes other than the selected one, and the selected
// mailbox's updates (expunges only if allowExpunge and not
// SELECTED-DELAYED). Between commands (waiting) the selected mailbox's
// updates are written only if one of them is an event asked for: flag
// changes without FlagChange, expunges for SELECTED-DELAYED wait for the
// next command, as without NOTIFY.
func (s *session) notifyReport(allowExpunge, waiting bool) error {
	n := s.notify
	if n == nil {
		return nil // ended by an overflow while waiting
	}
	n.mu.Lock()
	if n.overflow {
		n.mu.Unlock()
		s.stopNotify()
		s.e.raw("* OK [NOTIFICATIONOVERFLOW] Too many events at once; NOTIFY is off until set again").crlf()
		return nil
	}
	rescan := n.rescan
	changed := n.changed
	n.changed = map[store.MailboxID]bool{}
	meta := n.meta
	n.meta = nil
	n.mu.Unlock()
	if rescan {
		if err := s.notifyRescan(true); err != nil {
			return err
		}
	}
	for _, m := range meta {
		if !n.wantsMetadata(m.mailbox) {
			continue
		}
		s.e.raw("* METADATA ").mailbox(m.mailbox)
		for _, entry := range m.entries {
			s.e.sp().str(entry)
		}
		s.e.crlf()
	}
	ids := make([]store.MailboxID, 0, len(changed))
	for id := range changed {
		if s.view == nil || id != s.view.m.id {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
	if s.condstore {
		items = append(items, "HIGHESTMODSEQ")
	}
	o := &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true}
	for _, id := range ids {
		mb, err := s.srv.opts.Store.MailboxByID(id)
		if err != nil {
			continue // gone: MailboxName reports it
		}
		s.writeStatus(id, s.statusData(mb, o), items)
	}
	if sel := n.selected; sel != nil && s.view != nil && (!waiting || s.view.pendingFor(sel, n.delayed)) {
		v := s.view
		var last store.UID
		if len(v.uids) > 0 {
			last = v.uids[len(v.uids)-1]
		}
		if err := v.poll(s.updates(), allowExpunge && !n.delayed); err != nil {
			return err
		}
		if sel.fetch != nil && len(v.uids) > 0 && v.uids[len(v.uids)-1] > last {
			var set imap.UIDSet
			set.AddRange(imap.UID(last+1), imap.UID(v.uids[len(v.uids)-1]))
			w := *sel.fw
			w.obsolete = map[*imap.FetchItemBodySection]string{}
			for k, val := range sel.fw.obsolete {
				w.obsolete[k] = val
			}
			if err := s.fetch(&w, set, sel.fetch); err != nil {
				return err
			}
		}
	}
	return nil
}

// pendingFor: v has a queued event that NOTIFY's SELECTED events ask to
// be told at once.
func (v *view) pendingFor(ev *notifyEvents, delayed bool) bool {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	for _, e := range v.pending {
		switch e.Kind {
		case store.EventAdded:
			if ev.messageNew {
				return true
			}
		case store.EventFlags:
			if ev.flagChange {
				return true
			}
		case store.EventExpunged:
			if delayed {
				return false // what follows waits with it
			}
			if ev.messageExpunge {
				return true
			}
		}
	}
	return false
}

// notifyAfterCommand reports at a command's end; names are compared
// again (another front-end may have changed them).
func (s *session) notifyAfterCommand(allowExpunge bool) error {
	if s.notify.names() {
		s.notify.mu.Lock()
		s.notify.rescan = true
		s.notify.mu.Unlock()
	}
	return s.notifyReport(allowExpunge, false)
}

// notifyAwaiting waits for the next command while NOTIFY reports events
// as they happen (awaitInput, as in IDLE), then goes on with then.
func (s *session) notifyAwaiting(then func(error) error) awaiting {
	n := s.notify
	report := func() error { return s.notifyReport(true, true) }
	var viewWake *wakeup
	if n.selected != nil && s.view != nil {
		viewWake = &s.view.wake
	}
	return awaiting{waker{&n.wake, report}, waker{viewWake, report}, then}
}

// addNotifier and removeNotifier keep the server's NOTIFY sessions by
// account, for accountChanged.
func (srv *Server) addNotifier(n *notifier) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.notifiers == nil {
		srv.notifiers = map[uint64]map[*notifier]struct{}{}
	}
	if srv.notifiers[n.acct] == nil {
		srv.notifiers[n.acct] = map[*notifier]struct{}{}
	}
	srv.notifiers[n.acct][n] = struct{}{}
}

func (srv *Server) removeNotifier(n *notifier) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.notifiers[n.acct], n)
	if len(srv.notifiers[n.acct]) == 0 {
		delete(srv.notifiers, n.acct)
	}
}

// wantsMetadata: the filters ask for a change of mailbox's METADATA
// entries (RFC 5465 5.6, 5.7; "" is the server's).
func (n *notifier) wantsMetadata(mailbox string) bool {
	if mailbox == "" {
		return slices.ContainsFunc(n.filters, func(f notifyFilter) bool { return f.ev.serverMetadata })
	}
	for _, mb := range n.known {
		if mb.Name == mailbox {
			return n.eventsFor(&mb).mailboxMetadata
		}
	}
	return false
}

// metadataChanged: SETMETADATA set entries of acct's mailbox ("": the
// server's); its NOTIFY sessions tell their clients the entries' names.
func (srv *Server) metadataChanged(acct uint64, mailbox string, entries []store.MetadataEntry) {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for n := range srv.notifiers[acct] {
		n.mu.Lock()
		if len(n.meta) < maxMetaPending {
			n.meta = append(n.meta, metaChange{mailbox: mailbox, entries: names})
		} else {
			n.overflow = true
		}
		n.mu.Unlock()
		n.poke()
	}
}

// maxMetaPending bounds the METADATA changes waiting for one session.
const maxMetaPending = 1000

// accountChanged: a mailbox of acct was created, deleted, renamed or
// (un)subscribed; its NOTIFY sessions compare names again.
func (srv *Server) accountChanged(acct uint64) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for n := range srv.notifiers[acct] {
		n.mu.Lock()
		n.rescan = true
		n.mu.Unlock()
		n.poke()
	}
}
