package imap

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// thread is a node of a THREAD answer: a message, or a dummy (msg nil)
// holding children whose parent is not in the mailbox.
type thread struct {
	msg      *sortMsg
	id       string
	parent   *thread
	children []*thread
}

func (s *session) cmdThread(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	alg, err := p.atom()
	if err != nil {
		return err
	}
	alg = strings.ToUpper(alg)
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return badSyntax("Unknown threading algorithm %q", alg)
	}
	crit, err := charsetAndKeys(p)
	if err != nil {
		return err
	}
	res, err := s.search(c.uid, crit, &imap.SearchOptions{ReturnAll: true})
	if err != nil {
		return err
	}
	msgs, err := s.sortMsgs(res.uids, true, alg == "REFERENCES")
	if err != nil {
		return clientError(err, "thread")
	}
	var roots []*thread
	if alg == "ORDEREDSUBJECT" {
		roots = orderedSubject(msgs)
	} else {
		roots = references(msgs)
	}
	var b strings.Builder
	for _, r := range roots {
		writeThread(&b, r, c.uid)
	}
	s.e.raw("* THREAD")
	if b.Len() > 0 {
		s.e.sp().raw(b.String())
	}
	s.e.crlf()
	return nil
}

// byDate orders messages by sent date, then sequence number (RFC 5256).
func byDate(a, b *sortMsg) int {
	if c := a.date.Compare(b.date); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// orderedSubject is RFC 5256's ORDEREDSUBJECT: messages grouped by base
// subject, the first (by date) of each the parent of the others, threads
// ordered by their first message's date.
func orderedSubject(msgs []*sortMsg) []*thread {
	slices.SortStableFunc(msgs, func(a, b *sortMsg) int {
		if c := strings.Compare(a.subject, b.subject); c != 0 {
			return c
		}
		return byDate(a, b)
	})
	var roots []*thread
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].subject == msgs[i].subject {
			j++
		}
		root := &thread{msg: msgs[i]}
		for _, m := range msgs[i+1 : j] {
			root.children = append(root.children, &thread{msg: m, parent: root})
		}
		roots = append(roots, root)
		i = j
	}
	slices.SortStableFunc(roots, func(a, b *thread) int { return byDate(a.msg, b.msg) })
	return roots
}

// references is RFC 5256's REFERENCES (after Zawinski's algorithm).
func references(msgs []*sortMsg) []*thread {
	table := make(map[string]*thread)
	get := func(id string) *thread {
		t := table[id]
		if t == nil {
			t = &thread{id: id}
			table[id] = t
		}
		return t
	}
	// descends: whether a is b or below it.
	descends := func(a, b *thread) bool {
		for t := a; t != nil; t = t.parent {
			if t == b {
				return true
			}
		}
		return false
	}
	link := func(child, parent *thread) {
		if child.parent != nil {
			old := child.parent
			old.children = slices.DeleteFunc(old.children, func(t *thread) bool { return t == child })
		}
		child.parent = parent
		parent.children = append(parent.children, child)
	}
	slices.SortStableFunc(msgs, byDate)
	for n, m := range msgs {
		id := m.messageID
		if id == "" || table[id] != nil && table[id].msg != nil {
			id = "\x00" + strconv.Itoa(n) // missing or duplicate: unique
		}
		t := get(id)
		t.msg = m
		// (1B) link the references in order, never making a loop.
		var prev *thread
		for _, r := range m.refs {
			rt := get(r)
			if prev != nil && rt.parent == nil && !descends(prev, rt) {
				link(rt, prev)
			}
			prev = rt
		}
		// (1C) the last reference is the message's parent.
		if t.parent != nil {
			t.parent.children = slices.DeleteFunc(t.parent.children, func(c *thread) bool { return c == t })
			t.parent = nil
		}
		if prev != nil && !descends(prev, t) {
			link(t, prev)
		}
	}
	var roots []*thread
	for _, t := range table {
		if t.parent == nil {
			roots = append(roots, t)
		}
	}
	// (3) prune dummies.
	var prune func(list []*thread, parent *thread, atRoot bool) []*thread
	prune = func(list []*thread, parent *thread, atRoot bool) []*thread {
		var out []*thread
		for _, t := range list {
			t.children = prune(t.children, t, false)
			switch {
			case t.msg == nil && len(t.children) == 0:
			case t.msg == nil && (!atRoot || len(t.children) == 1):
				for _, c := range t.children {
					c.parent = parent
				}
				out = append(out, t.children...)
			default:
				out = append(out, t)
			}
		}
		return out
	}
	roots = prune(roots, nil, true)
	sortThreads(roots)
	// (5) group the roots by base subject.
	subjects := make(map[string]*thread)
	subjectOf := func(t *thread) (string, bool) {
		if t.msg == nil {
			t = t.children[0]
		}
		return t.msg.subject, t.msg.isReply
	}
	for _, t := range roots {
		if subj, _ := subjectOf(t); subj != "" {
			if old := subjects[subj]; old == nil || old.msg != nil && t.msg == nil {
				subjects[subj] = t
			}
		}
	}
	var out []*thread
	for _, t := range roots {
		subj, reply := subjectOf(t)
		old := subjects[subj]
		if subj == "" || old == nil || old == t {
			out = append(out, t)
			continue
		}
		_, oldReply := subjectOf(old)
		switch {
		case old.msg == nil && t.msg == nil:
			for _, c := range t.children {
				c.parent = old
			}
			old.children = append(old.children, t.children...)
		case old.msg == nil || !oldReply && reply:
			t.parent = old
			old.children = append(old.children, t)
		default:
			// (iv) both under a new dummy, in old's place
			moved := *old
			nold := &moved
			for _, c := range nold.children {
				c.parent = nold
			}
			*old = thread{children: []*thread{nold, t}}
			nold.parent, t.parent = old, old
		}
	}
	sortThreads(out)
	return out
}

// firstMsg is the message a (possibly dummy) node sorts by.
func firstMsg(t *thread) *sortMsg {
	for t.msg == nil && len(t.children) > 0 {
		t = t.children[0]
	}
	return t.msg
}

// sortThreads orders siblings by date, recursively (RFC 5256 4, step 4).
func sortThreads(list []*thread) {
	for _, t := range list {
		sortThreads(t.children)
	}
	slices.SortStableFunc(list, func(a, b *thread) int {
		ma, mb := firstMsg(a), firstMsg(b)
		if ma == nil || mb == nil {
			return 0
		}
		return byDate(ma, mb)
	})
}

// writeThread writes one thread-list (RFC 5256 5).
func writeThread(b *strings.Builder, t *thread, uid bool) {
	b.WriteByte('(')
	writeMembers(b, t, uid, true)
	b.WriteByte(')')
}

func writeMembers(b *strings.Builder, t *thread, uid, first bool) {
	if t.msg != nil {
		if !first {
			b.WriteByte(' ')
		}
		if uid {
			b.WriteString(strconv.FormatUint(uint64(t.msg.uid), 10))
		} else {
			b.WriteString(strconv.FormatUint(uint64(t.msg.seq), 10))
		}
		first = false
	}
	switch len(t.children) {
	case 0:
	case 1:
		writeMembers(b, t.children[0], uid, first)
	default:
		if !first {
			b.WriteByte(' ')
		}
		for _, c := range t.children {
			writeThread(b, c, uid)
		}
	}
}
