package imap

import (
	"slices"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// CONTEXT=SEARCH (RFC 5267 4): SEARCH RETURN (UPDATE) keeps the search
// alive while its mailbox stays selected, and the session reports how its
// result changes as "* ESEARCH (TAG t) [UID] REMOVEFROM (0 set) ADDTO (0
// set)" (position 0: SEARCH results have no order to insert into), until
// CANCELUPDATE. REMOVEFROM for expunged messages goes out before their
// EXPUNGE, with the sequence numbers they had; ADDTO after the EXISTS or
// FETCH that made the messages known. RETURN (CONTEXT) is a hint that
// changes nothing here, and RETURN (PARTIAL low:high) returns that range
// of the result's positions.

// maxSearchContexts bounds a session's updating searches; past it a
// search runs but gets "* NO [NOUPDATE tag]" (RFC 5267 4.3).
const maxSearchContexts = 10

// searchContext is one updating search.
type searchContext struct {
	tag    string
	uid    bool
	crit   *imap.SearchCriteria
	result []store.UID // ascending
}

// contextFor returns the session's updating search of tag, or nil.
func (s *session) contextFor(tag string) *searchContext {
	for _, c := range s.contexts {
		if c.tag == tag {
			return c
		}
	}
	return nil
}

// addContext keeps an updating search, or says it cannot.
func (s *session) addContext(tag string, uid bool, crit *imap.SearchCriteria, found []store.UID) {
	if len(s.contexts) >= maxSearchContexts {
		s.e.raw("* NO [NOUPDATE ").str(tag).raw("] Too many updating searches").crlf()
		return
	}
	s.contexts = append(s.contexts, &searchContext{tag: tag, uid: uid, crit: crit, result: slices.Clone(found)})
}

// cmdCancelUpdate ends updating searches: CANCELUPDATE "tag" *(SP "tag").
func (s *session) cmdCancelUpdate(c *cmd) error {
	p := c.p
	var tags []string
	for {
		if err := p.sp(); err != nil {
			return err
		}
		t, err := p.str()
		if err != nil {
			return err
		}
		tags = append(tags, t)
		if p.atEnd() {
			break
		}
	}
	if err := p.crlf(); err != nil {
		return err
	}
	for _, t := range tags {
		if s.contextFor(t) == nil {
			return no(imap.ResponseCodeClientBug, "No updating search has the tag "+t)
		}
	}
	s.contexts = slices.DeleteFunc(s.contexts, func(sc *searchContext) bool { return slices.Contains(tags, sc.tag) })
	return nil
}

// contextChanged notes messages whose flags this session changed itself
// (its own STORE is not echoed to it as an event): the updating searches
// look at them again at the next poll.
func (s *session) contextChanged(uids []store.UID) {
	if len(s.contexts) > 0 {
		s.ctxCand = append(s.ctxCand, uids...)
	}
}

// pollView reports the selected mailbox's changes (view.poll) and, with
// updating searches, how their results changed.
func (s *session) pollView(allowExpunge bool) error {
	v := s.view
	if len(s.contexts) == 0 {
		return v.poll(s.updates(), allowExpunge)
	}
	w := &contextUpdates{updateWriter: s.updates(), s: s}
	if n := len(v.uids); n > 0 {
		w.last = v.uids[n-1]
	}
	if err := v.poll(w, allowExpunge); err != nil {
		return err
	}
	return s.updateContexts()
}

// contextUpdates stands between view.poll and the session's writer: it
// notes the messages added and changed, and writes REMOVEFROM before an
// EXPUNGE.
type contextUpdates struct {
	updateWriter
	s    *session
	last store.UID // the highest UID noted as a candidate or known before
}

func (u *contextUpdates) WriteExpunged(seqs []uint32, uids []store.UID) error {
	s := u.s
	for _, sc := range s.contexts {
		var gone []uint32
		var goneUIDs []store.UID
		for i, uid := range uids {
			if _, ok := slices.BinarySearch(sc.result, uid); ok {
				gone = append(gone, seqs[i])
				goneUIDs = append(goneUIDs, uid)
			}
		}
		if len(goneUIDs) == 0 {
			continue
		}
		sc.result = without(sc.result, goneUIDs)
		s.writeContextUpdate(sc, nil, goneUIDs, nil, gone)
	}
	s.ctxCand = without(sortedUnique(s.ctxCand), uids)
	return u.updateWriter.WriteExpunged(seqs, uids)
}

func (u *contextUpdates) WriteNumMessages(n uint32) error {
	if err := u.updateWriter.WriteNumMessages(n); err != nil {
		return err
	}
	uids := u.s.view.uids
	i, _ := slices.BinarySearch(uids, u.last+1)
	u.s.ctxCand = append(u.s.ctxCand, uids[i:]...)
	if len(uids) > 0 {
		u.last = max(u.last, uids[len(uids)-1])
	}
	return nil
}

func (u *contextUpdates) WriteMessageFlags(seq uint32, uid imap.UID, flags []string, modseq uint64) error {
	u.s.ctxCand = append(u.s.ctxCand, store.UID(uid))
	return u.updateWriter.WriteMessageFlags(seq, uid, flags, modseq)
}

// updateContexts matches the candidate messages against each updating
// search and reports the differences.
func (s *session) updateContexts() error {
	v := s.view
	cand := sortedUnique(s.ctxCand)
	s.ctxCand = nil
	var known []store.UID // candidates the client knows (not expunged since)
	for _, u := range cand {
		if _, ok := slices.BinarySearch(v.uids, u); ok {
			known = append(known, u)
		}
	}
	if len(known) == 0 {
		return nil
	}
	for _, sc := range s.contexts {
		crit := *sc.crit
		data, err := s.searchIn(known, true, &crit, &imap.SearchOptions{ReturnAll: true})
		if err != nil {
			return err
		}
		var add, remove []store.UID
		for _, u := range known {
			_, was := slices.BinarySearch(sc.result, u)
			_, is := slices.BinarySearch(data.uids, u)
			switch {
			case is && !was:
				add = append(add, u)
			case was && !is:
				remove = append(remove, u)
			}
		}
		if len(add) == 0 && len(remove) == 0 {
			continue
		}
		sc.result = sortedUnique(append(without(sc.result, remove), add...))
		s.writeContextUpdate(sc, add, remove, nil, nil)
	}
	return nil
}

// writeContextUpdate writes one update of sc: the UIDs added and removed,
// as UIDs or sequence numbers (removedSeqs, when given, are the numbers
// the removed messages had).
func (s *session) writeContextUpdate(sc *searchContext, add, remove []store.UID, addSeqs, removedSeqs []uint32) {
	e := &s.e
	e.raw("* ESEARCH (TAG ").str(sc.tag).raw(")")
	if sc.uid {
		e.raw(" UID")
	}
	set := func(uids []store.UID, seqs []uint32) string {
		if sc.uid {
			return numSetString(uidSet(uids))
		}
		if seqs == nil {
			for _, u := range uids {
				if n := s.view.seqOf(u); n > 0 {
					seqs = append(seqs, n)
				}
			}
		}
		return numSetString(seqSet(seqs))
	}
	if len(remove) > 0 {
		e.raw(" REMOVEFROM (0 ").raw(set(remove, removedSeqs)).raw(")")
	}
	if len(add) > 0 {
		e.raw(" ADDTO (0 ").raw(set(add, addSeqs)).raw(")")
	}
	e.crlf()
}

// partialResult writes RFC 5267 4.4's PARTIAL: the results at positions
// low to high (1-based), NIL for none.
func partialResult(e *enc, low, high uint32, nums []uint32) {
	e.raw(" PARTIAL (").num(low).byte(':').num(high).sp()
	if int(low) > len(nums) {
		e.nil().raw(")")
		return
	}
	part := nums[low-1 : min(int(high), len(nums))]
	if len(part) == 0 {
		e.nil().raw(")")
		return
	}
	sorted := slices.Clone(part)
	slices.Sort(sorted)
	e.raw(numSetString(seqSet(sorted))).raw(")")
}

func sortedUnique(uids []store.UID) []store.UID {
	slices.Sort(uids)
	return slices.Compact(uids)
}
