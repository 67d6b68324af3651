package imap

import (
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"petrel/search"
)

// cmdThread serves THREAD (RFC 5256) with package search's algorithms,
// which the web mail's conversation view shares.
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
	items := make([]*search.Item, len(msgs))
	for i, m := range msgs {
		items[i] = &m.Item
	}
	var roots []*search.Thread
	if alg == "ORDEREDSUBJECT" {
		roots = search.OrderedSubject(items)
	} else {
		roots = search.References(items)
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

// writeThread writes one thread-list (RFC 5256 5).
func writeThread(b *strings.Builder, t *search.Thread, uid bool) {
	b.WriteByte('(')
	writeMembers(b, t, uid, true)
	b.WriteByte(')')
}

func writeMembers(b *strings.Builder, t *search.Thread, uid, first bool) {
	if t.Msg != nil {
		if !first {
			b.WriteByte(' ')
		}
		if uid {
			b.WriteString(strconv.FormatUint(uint64(t.Msg.UID), 10))
		} else {
			b.WriteString(strconv.FormatUint(uint64(t.Msg.Seq), 10))
		}
		first = false
	}
	switch len(t.Children) {
	case 0:
	case 1:
		writeMembers(b, t.Children[0], uid, first)
	default:
		if !first {
			b.WriteByte(' ')
		}
		for _, c := range t.Children {
			writeThread(b, c, uid)
		}
	}
}
