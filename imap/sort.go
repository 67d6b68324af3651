package imap

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/search"
	"petrel/store"
)

// SORT (RFC 5256, with SORT=DISPLAY, RFC 5957) and THREAD (RFC 5256:
// ORDEREDSUBJECT and REFERENCES). Both search first (search.go), then read
// what their keys need of each match in short read transactions: the
// envelope the store keeps, and for REFERENCES the References field.

// sortKey is one SORT criterion.
type sortKey struct {
	name    string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	reverse bool
}

// sortMsg is what sorting and threading know of a message: threading's
// (package search) and the sort keys'.
type sortMsg struct {
	search.Item
	arrival  time.Time
	size     int64
	from, to string // first address's mailbox, lower case
	cc       string
	dispFrom string // RFC 5957 display name or address
	dispTo   string
}

// sortMsgs loads what keys (and, for threading, refs) need of uids.
func (s *session) sortMsgs(uids []store.UID, needEnv, needRefs bool) ([]*sortMsg, error) {
	v := s.view
	st := s.srv.opts.Store
	out := make([]*sortMsg, 0, len(uids))
	byUID := make(map[store.UID]*sortMsg, len(uids))
	for start := 0; start < len(uids); start += fetchBatch {
		batch := uids[start:min(start+fetchBatch, len(uids))]
		metas, err := st.Messages(v.m.id, batch)
		if err != nil {
			return nil, err
		}
		for i := range metas {
			m := &sortMsg{Item: search.Item{UID: metas[i].UID, Seq: v.seqOf(metas[i].UID), Date: metas[i].InternalDate},
				arrival: metas[i].InternalDate, size: metas[i].Size}
			out = append(out, m)
			byUID[m.UID] = m
		}
		if !needEnv {
			continue
		}
		for g := 0; g < len(batch); g += contentGroup {
			group := batch[g:min(g+contentGroup, len(batch))]
			err := st.ReadContents(v.m.id, group, func(uid store.UID, c *store.Content, root *store.Part) error {
				m := byUID[uid]
				if m == nil {
					return nil
				}
				m.Fill(c, root, needRefs)
				env := root.Envelope
				if env == nil {
					env = &store.Envelope{}
				}
				m.from, m.dispFrom = firstAddr(env.From)
				m.to, m.dispTo = firstAddr(env.To)
				m.cc, _ = firstAddr(env.Cc)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// firstAddr is the first address's mailbox (RFC 5256 2.2: addr-mailbox)
// and its display form (RFC 5957: the name, else the address).
func firstAddr(l []store.Address) (mailbox, display string) {
	for _, a := range l {
		if a.Host == "" {
			continue // a group marker
		}
		display = a.Name
		if display == "" {
			display = a.Mailbox + "@" + a.Host
		}
		return strings.ToLower(a.Mailbox), strings.ToLower(display)
	}
	return "", ""
}

func compareBy(k sortKey, a, b *sortMsg) int {
	var c int
	switch k.name {
	case "ARRIVAL":
		c = a.arrival.Compare(b.arrival)
	case "DATE":
		c = a.Date.Compare(b.Date)
	case "SIZE":
		c = cmp.Compare(a.size, b.size)
	case "FROM":
		c = strings.Compare(a.from, b.from)
	case "TO":
		c = strings.Compare(a.to, b.to)
	case "CC":
		c = strings.Compare(a.cc, b.cc)
	case "SUBJECT":
		c = strings.Compare(a.Subject, b.Subject)
	case "DISPLAYFROM":
		c = strings.Compare(a.dispFrom, b.dispFrom)
	case "DISPLAYTO":
		c = strings.Compare(a.dispTo, b.dispTo)
	}
	if k.reverse {
		c = -c
	}
	return c
}

func (s *session) cmdSort(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	// ESORT (RFC 5267): SORT RETURN (MIN MAX ALL COUNT) answers ESEARCH.
	var ret *imap.SearchOptions
	if b, err := p.peek(); err != nil {
		return err
	} else if b == 'R' || b == 'r' {
		a, err := p.atom()
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "RETURN") {
			return badSyntax("Expected RETURN or sort criteria")
		}
		ret = &imap.SearchOptions{}
		if err := p.sp(); err != nil {
			return err
		}
		err = p.list(true, func() error {
			a, err := p.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(a) {
			case "MIN":
				ret.ReturnMin = true
			case "MAX":
				ret.ReturnMax = true
			case "ALL":
				ret.ReturnAll = true
			case "COUNT":
				ret.ReturnCount = true
			default:
				return badSyntax("Unknown SORT RETURN option %q", a)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !ret.ReturnMin && !ret.ReturnMax && !ret.ReturnCount {
			ret.ReturnAll = true
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
	var keys []sortKey
	reverse := false
	err := p.list(false, func() error {
		a, err := p.atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		switch a {
		case "REVERSE":
			if reverse {
				return badSyntax("REVERSE twice")
			}
			reverse = true
			return nil
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
			keys = append(keys, sortKey{name: a, reverse: reverse})
			reverse = false
			return nil
		}
		return badSyntax("Unknown sort key %q", a)
	})
	if err != nil {
		return err
	}
	if reverse {
		return badSyntax("REVERSE must precede a sort key")
	}
	crit, err := charsetAndKeys(p)
	if err != nil {
		return err
	}
	res, err := s.search(c.uid, crit, &imap.SearchOptions{ReturnAll: true})
	if err != nil {
		return err
	}
	needEnv := slices.ContainsFunc(keys, func(k sortKey) bool { return k.name != "ARRIVAL" && k.name != "SIZE" })
	msgs, err := s.sortMsgs(res.uids, needEnv, false)
	if err != nil {
		return clientError(err, "sort")
	}
	slices.SortStableFunc(msgs, func(a, b *sortMsg) int {
		for _, k := range keys {
			if c := compareBy(k, a, b); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	num := func(m *sortMsg) uint32 {
		if c.uid {
			return uint32(m.UID)
		}
		return m.Seq
	}
	e := &s.e
	if ret == nil {
		e.raw("* SORT")
		for _, m := range msgs {
			e.sp().num(num(m))
		}
		e.crlf()
		return nil
	}
	// MIN and MAX are the first and last in sort order, ALL the sorted
	// list (RFC 5267 3.2).
	e.raw("* ESEARCH (TAG ").str(c.tag).raw(")")
	if c.uid {
		e.raw(" UID")
	}
	if len(msgs) > 0 {
		if ret.ReturnMin {
			e.raw(" MIN ").num(num(msgs[0]))
		}
		if ret.ReturnMax {
			e.raw(" MAX ").num(num(msgs[len(msgs)-1]))
		}
		if ret.ReturnAll {
			e.raw(" ALL ")
			for i, m := range msgs {
				if i > 0 {
					e.byte(',')
				}
				e.num(num(m))
			}
		}
	}
	if ret.ReturnCount {
		e.raw(" COUNT ").num(uint32(len(msgs)))
	}
	e.crlf()
	return nil
}

// charsetAndKeys reads SORT's and THREAD's " charset SP search-key…" CRLF.
func charsetAndKeys(p *parser) (*imap.SearchCriteria, error) {
	if err := p.sp(); err != nil {
		return nil, err
	}
	cs, err := p.astring()
	if err != nil {
		return nil, err
	}
	var crit imap.SearchCriteria
	for {
		if err := p.sp(); err != nil {
			return nil, err
		}
		if err := searchKey(p, &crit, "", 0); err != nil {
			return nil, err
		}
		if p.atEnd() {
			break
		}
	}
	if err := p.crlf(); err != nil {
		return nil, err
	}
	switch strings.ToUpper(cs) {
	case "US-ASCII", "UTF-8":
	default:
		return nil, no(imap.ResponseCodeBadCharset, "Only US-ASCII and UTF-8 are supported charsets")
	}
	return &crit, nil
}
