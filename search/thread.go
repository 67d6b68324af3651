package search

import (
	"cmp"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"petrel/msgtext"
	"petrel/store"
)

// Item is what threading knows of a message.
type Item struct {
	UID store.UID
	// Seq orders messages of the same date (RFC 5256: the sequence
	// number); any order that follows the UIDs will do.
	Seq       uint32
	Date      time.Time // sent date, else arrival (RFC 5256 2.2)
	Subject   string    // base subject (RFC 5256 2.1)
	IsReply   bool      // the subject had a reply/forward leader
	MessageID string
	Refs      []string // References, else In-Reply-To
}

// Fill sets what the envelope and header of a message tell: its date (the
// arrival date is kept when it has none), base subject, Message-ID and,
// with refs, its references.
func (it *Item) Fill(c *store.Content, root *store.Part, refs bool) {
	env := root.Envelope
	if env == nil {
		env = &store.Envelope{}
	}
	if !env.Date.IsZero() {
		it.Date = env.Date
	}
	it.Subject, it.IsReply = BaseSubject(env.Subject)
	it.MessageID = env.MessageID
	if refs {
		EachField(c.Slice(0, root.BodyStart), "References", func(v string) {
			it.Refs = append(it.Refs, MessageIDs(v)...)
		})
		if len(it.Refs) == 0 && len(env.InReplyTo) > 0 {
			it.Refs = env.InReplyTo[:1]
		}
	}
}

// FillHeader is Fill from the message's top header alone (hdr, as
// store.ReadHeaders gives it), for readers that need nothing else of the
// message: the stored structure is not decoded, and of the header only
// Date, Subject, Message-ID, In-Reply-To and References are read, in one
// pass. It sets what Fill sets from the same header.
func (it *Item) FillHeader(hdr []byte, refs bool) {
	var date, subject, msgID, inReplyTo bool
	var firstParent string
	for f := range msgtext.Fields(hdr) {
		switch {
		case !date && f.Is("Date"):
			date = true
			if t, err := parseDate(strings.TrimSpace(f.Text())); err == nil {
				it.Date = t
			}
		case !subject && f.Is("Subject"):
			subject = true
			v := strings.TrimSpace(f.Text())
			if strings.Contains(v, "=?") {
				if d, err := wordDecoder.DecodeHeader(v); err == nil {
					v = d
				}
			}
			it.Subject, it.IsReply = BaseSubject(v)
		case !msgID && f.Is("Message-ID"):
			msgID = true
			if ids := MessageIDs(f.Text()); len(ids) > 0 {
				it.MessageID = ids[0]
			}
		case refs && !inReplyTo && f.Is("In-Reply-To"):
			inReplyTo = true
			if ids := MessageIDs(f.Text()); len(ids) > 0 {
				firstParent = ids[0]
			}
		case refs && f.Is("References"):
			it.Refs = append(it.Refs, MessageIDs(f.Text())...)
		}
	}
	if !subject {
		it.Subject, it.IsReply = BaseSubject("")
	}
	if refs && len(it.Refs) == 0 && firstParent != "" {
		it.Refs = []string{firstParent}
	}
}

// parseDate is net/mail.ParseDate (what the store's envelope has) with a
// fast path for the usual RFC 5322 form: ParseDate tries its layouts in
// turn, and each miss costs an error's allocation.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", s); err == nil {
		return t, nil
	}
	return mail.ParseDate(s)
}

// MessageIDs are the message ids of a References or In-Reply-To value,
// without their angle brackets (at most 100): each "<...>" with no
// angle bracket or white space inside, as the regular expression
// <([^<>\s]+)> finds them, scanned by hand (this runs for every message
// of a folder the conversation view threads).
func MessageIDs(v string) []string {
	var out []string
	for i := 0; i < len(v) && len(out) < 100; {
		k := strings.IndexByte(v[i:], '<')
		if k < 0 {
			break
		}
		start := i + k + 1
		j := start
		for j < len(v) && !msgIDStop(v[j]) {
			j++
		}
		if j < len(v) && v[j] == '>' && j > start {
			out = append(out, v[start:j])
			i = j + 1
			continue
		}
		i = start
	}
	return out
}

// msgIDStop reports whether b ends a message id: an angle bracket or
// white space (RE2's \s).
func msgIDStop(b byte) bool {
	switch b {
	case '<', '>', ' ', '\t', '\n', '\f', '\r':
		return true
	}
	return false
}

var (
	subjBlob = `\[[^\[\]]*\]\s*`
	leaderRe = regexp.MustCompile(`^(?:` + subjBlob + `)*(?:re|fwd?)\s*(?:` + subjBlob + `)?:\s*`)
	blobRe   = regexp.MustCompile(`^` + subjBlob)
)

// collapseSpace replaces each run of white space (RE2's \s: tab, line
// feed, form feed, carriage return, space) with one space, as
// regexp.MustCompile(`\s+`).ReplaceAllString(s, " ") does, without its
// cost when there is nothing to replace (most subjects).
func collapseSpace(s string) string {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		c := s[i]
		clean = !isRESpace(c) || (c == ' ' && (i+1 == len(s) || !isRESpace(s[i+1])))
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if isRESpace(s[i]) {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(s[i])
	}
	return b.String()
}

func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// BaseSubject extracts RFC 5256 2.1's base subject (case folded) and
// whether a reply or forward leader was removed.
func BaseSubject(subj string) (string, bool) {
	s := strings.ToLower(collapseSpace(strings.TrimSpace(subj)))
	reply := false
	for {
		for { // (2) trailers: white space and "(fwd)"
			t := strings.TrimSpace(s)
			if strings.HasSuffix(t, "(fwd)") {
				t, reply = t[:len(t)-len("(fwd)")], true
			}
			if t == s {
				break
			}
			s = t
		}
		for { // (3)-(5) leaders and blobs
			changed := false
			if m := leaderRe.FindString(s); m != "" {
				s, reply, changed = s[len(m):], true, true
			}
			if m := blobRe.FindString(s); m != "" && len(m) < len(s) {
				s, changed = s[len(m):], true
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd: …]"
		if strings.HasPrefix(s, "[fwd:") && strings.HasSuffix(s, "]") {
			s, reply = strings.TrimSpace(s[5:len(s)-1]), true
			continue
		}
		return strings.TrimFunc(s, unicode.IsSpace), reply
	}
}

// Thread is a node of a thread tree: a message, or a dummy (Msg nil)
// holding children whose parent is not among the messages threaded.
type Thread struct {
	Msg      *Item
	Parent   *Thread
	Children []*Thread
	id       string
}

// ByDate orders messages by date, then Seq (RFC 5256).
func ByDate(a, b *Item) int {
	if c := a.Date.Compare(b.Date); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// OrderedSubject is RFC 5256's ORDEREDSUBJECT: messages grouped by base
// subject, the first (by date) of each the parent of the others, threads
// ordered by their first message's date. It sorts msgs.
func OrderedSubject(msgs []*Item) []*Thread {
	slices.SortStableFunc(msgs, func(a, b *Item) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return ByDate(a, b)
	})
	var roots []*Thread
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Subject == msgs[i].Subject {
			j++
		}
		root := &Thread{Msg: msgs[i]}
		for _, m := range msgs[i+1 : j] {
			root.Children = append(root.Children, &Thread{Msg: m, Parent: root})
		}
		roots = append(roots, root)
		i = j
	}
	slices.SortStableFunc(roots, func(a, b *Thread) int { return ByDate(a.Msg, b.Msg) })
	return roots
}

// References is RFC 5256's REFERENCES (after Zawinski's algorithm): the
// threads of msgs, oldest first, each one's children oldest first. It
// sorts msgs.
func References(msgs []*Item) []*Thread {
	table := make(map[string]*Thread, len(msgs))
	get := func(id string) *Thread {
		t := table[id]
		if t == nil {
			t = &Thread{id: id}
			table[id] = t
		}
		return t
	}
	// descends: whether a is b or below it.
	descends := func(a, b *Thread) bool {
		for t := a; t != nil; t = t.Parent {
			if t == b {
				return true
			}
		}
		return false
	}
	link := func(child, parent *Thread) {
		if child.Parent != nil {
			old := child.Parent
			old.Children = slices.DeleteFunc(old.Children, func(t *Thread) bool { return t == child })
		}
		child.Parent = parent
		parent.Children = append(parent.Children, child)
	}
	// ByDate is a total order when Seqs differ (they do: sequence
	// numbers, UIDs), so a plain sort gives the stable sort's order.
	slices.SortFunc(msgs, ByDate)
	for n, m := range msgs {
		id := m.MessageID
		if id == "" || table[id] != nil && table[id].Msg != nil {
			id = "\x00" + strconv.Itoa(n) // missing or duplicate: unique
		}
		t := get(id)
		t.Msg = m
		// (1B) link the references in order, never making a loop.
		var prev *Thread
		for _, r := range m.Refs {
			rt := get(r)
			if prev != nil && rt.Parent == nil && !descends(prev, rt) {
				link(rt, prev)
			}
			prev = rt
		}
		// (1C) the last reference is the message's parent.
		if t.Parent != nil {
			t.Parent.Children = slices.DeleteFunc(t.Parent.Children, func(c *Thread) bool { return c == t })
			t.Parent = nil
		}
		if prev != nil && !descends(prev, t) {
			link(t, prev)
		}
	}
	var roots []*Thread
	for _, t := range table {
		if t.Parent == nil {
			roots = append(roots, t)
		}
	}
	// (3) prune dummies.
	var prune func(list []*Thread, parent *Thread, atRoot bool) []*Thread
	prune = func(list []*Thread, parent *Thread, atRoot bool) []*Thread {
		var out []*Thread
		for _, t := range list {
			t.Children = prune(t.Children, t, false)
			switch {
			case t.Msg == nil && len(t.Children) == 0:
			case t.Msg == nil && (!atRoot || len(t.Children) == 1):
				for _, c := range t.Children {
					c.Parent = parent
				}
				out = append(out, t.Children...)
			default:
				out = append(out, t)
			}
		}
		return out
	}
	roots = prune(roots, nil, true)
	sortThreads(roots)
	// (5) group the roots by base subject.
	subjects := make(map[string]*Thread)
	subjectOf := func(t *Thread) (string, bool) {
		if t.Msg == nil {
			t = t.Children[0]
		}
		return t.Msg.Subject, t.Msg.IsReply
	}
	for _, t := range roots {
		if subj, _ := subjectOf(t); subj != "" {
			if old := subjects[subj]; old == nil || old.Msg != nil && t.Msg == nil {
				subjects[subj] = t
			}
		}
	}
	var out []*Thread
	for _, t := range roots {
		subj, reply := subjectOf(t)
		old := subjects[subj]
		if subj == "" || old == nil || old == t {
			out = append(out, t)
			continue
		}
		_, oldReply := subjectOf(old)
		switch {
		case old.Msg == nil && t.Msg == nil:
			for _, c := range t.Children {
				c.Parent = old
			}
			old.Children = append(old.Children, t.Children...)
		case old.Msg == nil || !oldReply && reply:
			t.Parent = old
			old.Children = append(old.Children, t)
		default:
			// (iv) both under a new dummy, in old's place
			moved := *old
			nold := &moved
			for _, c := range nold.Children {
				c.Parent = nold
			}
			*old = Thread{Children: []*Thread{nold, t}}
			nold.Parent, t.Parent = old, old
		}
	}
	sortThreads(out)
	return out
}

// First is the message a (possibly dummy) node sorts by.
func First(t *Thread) *Item {
	for t.Msg == nil && len(t.Children) > 0 {
		t = t.Children[0]
	}
	return t.Msg
}

// sortThreads orders siblings by date, recursively (RFC 5256 4, step 4).
// The message each sorts by is found once, not at each comparison.
func sortThreads(list []*Thread) {
	for _, t := range list {
		sortThreads(t.Children)
	}
	if len(list) < 2 {
		return
	}
	type keyed struct {
		t     *Thread
		first *Item
	}
	ks := make([]keyed, len(list))
	for i, t := range list {
		ks[i] = keyed{t, First(t)}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if a.first == nil || b.first == nil {
			return 0
		}
		return ByDate(a.first, b.first)
	})
	for i := range ks {
		list[i] = ks[i].t
	}
}

// Walk calls fn with every message of a thread, parents before their
// children.
func (t *Thread) Walk(fn func(*Item)) {
	if t.Msg != nil {
		fn(t.Msg)
	}
	for _, c := range t.Children {
		c.Walk(fn)
	}
}
