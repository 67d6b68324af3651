package imap

import (
	"slices"
	"strconv"

	"github.com/emersion/go-imap/v2"

	"petrel/search"
	"petrel/store"
)

// search serves SEARCH and UID SEARCH with every RFC 9051 key, ESEARCH
// results (MIN, MAX, COUNT, ALL) and SEARCHRES (SAVE). The criteria are
// evaluated by package search, the web mail's search too; this file
// resolves what belongs to the session ("*", "$", \Recent, SAVE) and
// serves header keys from the mailbox's headerCache.
// searchResult is a SEARCH's answer; nums are the numbers of a plain
// SEARCH response, in order.
type searchResult struct {
	imap.SearchData
	nums []uint32
	uids []store.UID // the matches, ascending
	// modseq is the highest MODSEQ of the matches, for a SEARCH with a
	// MODSEQ key (RFC 7162 3.1.5); 0 otherwise.
	modseq uint64
}

func (s *session) search(byUID bool, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*searchResult, error) {
	return s.searchIn(nil, byUID, criteria, options)
}

// searchIn is search over the messages within only (ascending, known to
// the view), or, with within nil, all; with within, the sequence numbers
// of the result are not the messages' (updating searches use the UIDs).
func (s *session) searchIn(within []store.UID, byUID bool, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*searchResult, error) {
	v := s.view
	uids := v.uids
	if within != nil {
		uids = within
	}
	v.staticCriteria(criteria)
	var o search.Options
	if names := cachedHeaderNames(criteria); names != nil {
		o.Cached = func(uids []store.UID, fn func(uid store.UID, fields map[string]string)) error {
			return s.searchCached(v, uids, names, fn)
		}
	}
	if n, ok := topModSeq(criteria); ok {
		// SEARCH MODSEQ n reads the store's MODSEQ index: only the
		// messages changed since are candidates, numbered as the view
		// numbers them.
		changed, err := s.srv.opts.Store.ChangedSince(v.m.id, n-1)
		if err != nil {
			return nil, clientError(err, "search")
		}
		narrowed := make([]store.UID, 0, len(changed))
		for _, m := range changed {
			if v.seqOf(m.UID) > 0 && (within == nil || inSorted(within, m.UID)) {
				narrowed = append(narrowed, m.UID)
			}
		}
		uids, o.SeqOf = narrowed, v.seqOf
	}
	var seqs []uint32
	var found []store.UID
	var maxModSeq uint64
	err := search.Run(s.ctx, s.srv.opts.Store, v.m.id, uids, criteria, o, func(m *search.Msg) bool {
		seqs = append(seqs, m.Seq)
		found = append(found, m.Meta.UID)
		maxModSeq = max(maxModSeq, m.Meta.ModSeq)
		return true
	})
	if err != nil {
		return nil, clientError(err, "search")
	}

	data := &searchResult{SearchData: imap.SearchData{Count: uint32(len(found))}, nums: seqs, uids: found}
	if search.AnyKey(criteria, func(c *imap.SearchCriteria) bool {
		return slices.ContainsFunc(c.Header, func(h imap.SearchCriteriaHeaderField) bool { return h.Key == search.ModSeqKey })
	}) {
		data.modseq = maxModSeq
		s.condstore = true
	}
	if byUID {
		data.nums = make([]uint32, len(found))
		for i, u := range found {
			data.nums[i] = uint32(u)
		}
		data.All = uidSet(found)
		if len(found) > 0 {
			data.Min, data.Max = uint32(found[0]), uint32(found[len(found)-1])
		}
	} else {
		data.All = seqSet(seqs)
		if len(seqs) > 0 {
			data.Min, data.Max = seqs[0], seqs[len(seqs)-1]
		}
	}
	if options.ReturnSave {
		saved := savedResult(found, options)
		v.m.mu.Lock()
		v.searchRes = saved
		v.m.mu.Unlock()
	}
	return data, nil
}

// searchCached calls fn, in the order of uids, with the values of names of
// each message that still exists: from the mailbox's headerCache, or read
// from the message and put in the cache (as far as its budget allows).
func (s *session) searchCached(v *view, uids []store.UID, names []string, fn func(uid store.UID, cached map[string]string)) error {
	got, miss := v.m.hc.lookup(uids, names)
	if len(miss) > 0 {
		err := s.srv.opts.Store.ReadHeaders(v.m.id, miss, func(uid store.UID, c *store.Content, bodyStart int64) error {
			vals := readValues(c.Slice(0, bodyStart), names)
			got[uid] = vals
			v.m.hc.put(uid, vals)
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, uid := range uids {
		if vals := got[uid]; vals != nil { // else expunged meanwhile
			fn(uid, vals)
		}
	}
	return nil
}

// savedResult is what SAVE keeps of the matches (ascending UIDs): with MIN
// and/or MAX but neither ALL nor COUNT, only the messages those return
// (RFC 5182 2.4); otherwise all of them.
func savedResult(found []store.UID, options *imap.SearchOptions) []store.UID {
	if len(found) == 0 || options.ReturnAll || options.ReturnCount || (!options.ReturnMin && !options.ReturnMax) {
		return found
	}
	var saved []store.UID
	if options.ReturnMin {
		saved = append(saved, found[0])
	}
	if options.ReturnMax && (len(saved) == 0 || found[len(found)-1] != saved[0]) {
		saved = append(saved, found[len(found)-1])
	}
	return saved
}

// staticCriteria resolves "*" and "$" against the client's view, so that
// matching is a plain membership test.
func (v *view) staticCriteria(c *imap.SearchCriteria) {
	n := uint32(len(v.uids))
	var last imap.UID
	if n > 0 {
		last = imap.UID(v.uids[n-1])
	}
	var seqs []imap.SeqSet
	for _, set := range c.SeqNum {
		set = slices.Clone(set)
		for i := range set {
			if set[i].Start == 0 {
				set[i].Start = n
			}
			if set[i].Stop == 0 {
				set[i].Stop = n
			}
		}
		seqs = append(seqs, set)
	}
	c.SeqNum = seqs
	// \Recent is the view's: a set of UIDs.
	recent := imap.UIDSet{}
	if len(v.recent) > 0 {
		recent = uidSet(v.recent)
	}
	if i := slices.Index(c.Flag, flagRecent); i >= 0 {
		c.Flag = slices.Delete(slices.Clone(c.Flag), i, i+1)
		c.UID = append(c.UID, recent)
	}
	if i := slices.Index(c.NotFlag, flagRecent); i >= 0 {
		c.NotFlag = slices.Delete(slices.Clone(c.NotFlag), i, i+1)
		c.Not = append(c.Not, imap.SearchCriteria{UID: []imap.UIDSet{recent}})
	}
	for k, set := range c.UID {
		if imap.IsSearchRes(set) {
			v.m.mu.Lock()
			c.UID[k] = uidSet(v.searchRes)
			v.m.mu.Unlock()
			if c.UID[k] == nil {
				c.UID[k] = imap.UIDSet{} // matches nothing
			}
			continue
		}
		set = slices.Clone(set)
		for i := range set {
			if set[i].Start == 0 {
				set[i].Start = last
			}
			if set[i].Stop == 0 {
				set[i].Stop = last
			}
		}
		c.UID[k] = set
	}
	for i := range c.Not {
		v.staticCriteria(&c.Not[i])
	}
	for i := range c.Or {
		v.staticCriteria(&c.Or[i][0])
		v.staticCriteria(&c.Or[i][1])
	}
}

// topModSeq is the n of a MODSEQ n key that every match must satisfy (one
// at the top level of criteria, which ANDs its keys; the highest if there
// are several): only messages with a MODSEQ of at least n can match.
func topModSeq(c *imap.SearchCriteria) (uint64, bool) {
	var n uint64
	for _, h := range c.Header {
		if h.Key != search.ModSeqKey {
			continue
		}
		if v, err := strconv.ParseUint(h.Value, 10, 64); err == nil && v > n {
			n = v
		}
	}
	return n, n > 0
}

// inSorted reports whether uid is in the ascending uids.
func inSorted(uids []store.UID, uid store.UID) bool {
	_, ok := slices.BinarySearch(uids, uid)
	return ok
}
