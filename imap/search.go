package imap

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// search serves SEARCH and UID SEARCH with every RFC 9051 key, ESEARCH
// results (MIN, MAX, COUNT, ALL) and SEARCHRES (SAVE). Flags, sizes and
// dates come from the metadata; header and body keys read the messages in
// groups, one short read transaction each, and match decoded text
// (searchtext.go).
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
	narrowed := false
	if n, ok := topModSeq(criteria); ok {
		// SEARCH MODSEQ n reads the store's MODSEQ index: only the
		// messages changed since are candidates.
		changed, err := s.srv.opts.Store.ChangedSince(v.m.id, n-1)
		if err != nil {
			return nil, clientError(err, "search")
		}
		uids = make([]store.UID, 0, len(changed))
		for _, m := range changed {
			if v.seqOf(m.UID) > 0 {
				uids = append(uids, m.UID)
			}
		}
		narrowed = true
	}
	content := needsContent(criteria)
	headerOnly := content && !needsStructure(criteria)
	var cachedNames []string // the fields served by the mailbox's headerCache
	if headerOnly {
		cachedNames = cachedHeaderNames(criteria)
	}
	st := s.srv.opts.Store

	var seqs []uint32
	var found []store.UID
	var maxModSeq uint64
	for start := 0; start < len(uids); start += fetchBatch {
		batch := uids[start:min(start+fetchBatch, len(uids))]
		metas, err := st.Messages(v.m.id, batch)
		if err != nil {
			return nil, clientError(err, "search")
		}
		pos := make(map[store.UID]int, len(metas)) // index in batch: seq = start+index+1
		for i, uid := range batch {
			pos[uid] = i
		}
		seqOf := func(uid store.UID) uint32 {
			if narrowed {
				return v.seqOf(uid)
			}
			return uint32(start + pos[uid] + 1)
		}
		check := func(mc *msgCtx) {
			if match(criteria, mc) {
				seqs = append(seqs, mc.seq)
				found = append(found, mc.meta.UID)
				maxModSeq = max(maxModSeq, mc.meta.ModSeq)
			}
		}
		if !content {
			for k := range metas {
				check(&msgCtx{seq: seqOf(metas[k].UID), meta: &metas[k]})
			}
			continue
		}
		byUID := make(map[store.UID]*store.Message, len(metas))
		for k := range metas {
			byUID[metas[k].UID] = &metas[k]
		}
		// at is the message to match, nil when it is gone from the batch.
		at := func(uid store.UID) *msgCtx {
			meta := byUID[uid]
			if meta == nil {
				return nil
			}
			return &msgCtx{seq: seqOf(uid), meta: meta}
		}
		for g := 0; g < len(batch); g += contentGroup {
			group := batch[g:min(g+contentGroup, len(batch))]
			var err error
			switch {
			case cachedNames != nil:
				err = s.searchCached(v, group, cachedNames, func(uid store.UID, cached map[string]string) {
					if m := at(uid); m != nil {
						m.cached = cached
						check(m)
					}
				})
			case headerOnly:
				err = st.ReadHeaders(v.m.id, group, func(uid store.UID, c *store.Content, bodyStart int64) error {
					if m := at(uid); m != nil {
						m.c, m.headerEnd = c, bodyStart
						check(m)
					}
					return nil
				})
			default:
				err = st.ReadContents(v.m.id, group, func(uid store.UID, c *store.Content, root *store.Part) error {
					if m := at(uid); m != nil {
						m.c, m.root, m.headerEnd = c, root, root.BodyStart
						check(m)
					}
					return nil
				})
			}
			if err != nil {
				return nil, clientError(err, "search")
			}
		}
	}

	data := &searchResult{SearchData: imap.SearchData{Count: uint32(len(found))}, nums: seqs, uids: found}
	if anyKey(criteria, func(c *imap.SearchCriteria) bool {
		return slices.ContainsFunc(c.Header, func(h imap.SearchCriteriaHeaderField) bool { return h.Key == modSeqKey })
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

// needsContent: whether any key reads the message itself.
func needsContent(c *imap.SearchCriteria) bool {
	return anyKey(c, func(c *imap.SearchCriteria) bool {
		return slices.ContainsFunc(c.Header, func(h imap.SearchCriteriaHeaderField) bool { return !isSpecialKey(h.Key) }) ||
			len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero()
	})
}

// needsStructure: whether any key needs more of a message than its top
// header (the body's text, or the sent date from the envelope).
func needsStructure(c *imap.SearchCriteria) bool {
	return anyKey(c, func(c *imap.SearchCriteria) bool {
		return len(c.Body) > 0 || len(c.Text) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero()
	})
}

// anyKey reports whether has holds for c or any criteria under its NOT
// and OR keys.
func anyKey(c *imap.SearchCriteria, has func(*imap.SearchCriteria) bool) bool {
	if has(c) {
		return true
	}
	for i := range c.Not {
		if anyKey(&c.Not[i], has) {
			return true
		}
	}
	for i := range c.Or {
		if anyKey(&c.Or[i][0], has) || anyKey(&c.Or[i][1], has) {
			return true
		}
	}
	return false
}

// match evaluates the criteria (an AND of every key given) on one message.
func match(c *imap.SearchCriteria, m *msgCtx) bool {
	for _, set := range c.SeqNum {
		if !inSeqSet(set, m.seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !inUIDSet(set, imap.UID(m.meta.UID)) {
			return false
		}
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		d := dateOnly(m.meta.InternalDate.UTC())
		if !c.Since.IsZero() && d.Before(dateOnly(c.Since)) {
			return false
		}
		if !c.Before.IsZero() && !d.Before(dateOnly(c.Before)) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		d := dateOnly(m.sentDate())
		if !c.SentSince.IsZero() && d.Before(dateOnly(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !d.Before(dateOnly(c.SentBefore)) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !hasFlag(m.meta, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.meta, f) {
			return false
		}
	}
	if c.Larger > 0 && m.meta.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && m.meta.Size >= c.Smaller {
		return false
	}
	for _, h := range c.Header {
		switch h.Key {
		case withinKey:
			if !within(h.Value, m.meta.InternalDate) {
				return false
			}
			continue
		case modSeqKey:
			if n, _ := strconv.ParseUint(h.Value, 10, 64); m.meta.ModSeq < n {
				return false
			}
			continue
		case emailIDKey:
			if "E"+strconv.FormatUint(m.meta.Blob, 10) != h.Value {
				return false
			}
			continue
		case savedKey:
			if !savedMatch(h.Value, m.meta) {
				return false
			}
			continue
		}
		if !m.headerContains(h.Key, h.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		if !m.bodyContains(b) {
			return false
		}
	}
	for _, t := range c.Text {
		if !m.headerContains("", t) && !m.bodyContains(t) {
			return false
		}
	}
	for i := range c.Not {
		if match(&c.Not[i], m) {
			return false
		}
	}
	for i := range c.Or {
		if !match(&c.Or[i][0], m) && !match(&c.Or[i][1], m) {
			return false
		}
	}
	return true
}

// hasFlag: \Recent was turned into a UID set by staticCriteria.
func hasFlag(m *store.Message, f imap.Flag) bool {
	return m.Has(string(f))
}

func inSeqSet(set imap.SeqSet, n uint32) bool {
	for _, r := range set {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

func inUIDSet(set imap.UIDSet, n imap.UID) bool {
	for _, r := range set {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// dateOnly drops the time of day (RFC 9051 6.4.4: dates disregard time and
// timezone).
func dateOnly(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// modSeqKey marks RFC 7162's SEARCH MODSEQ the same way.
const modSeqKey = "\x00MODSEQ"

// emailIDKey marks RFC 8474's SEARCH EMAILID the same way.
const emailIDKey = "\x00EMAILID"

// savedKey marks RFC 8514's SAVEDSINCE, SAVEDBEFORE and SAVEDON the same
// way: the value is "since", "before" or "on", a space and the date.
const savedKey = "\x00SAVED"

// savedMatch: whether the message's save date (its internal date when it
// has none: stored before save dates were kept) is on, since or before
// the date, disregarding time and timezone as SINCE does.
func savedMatch(v string, m *store.Message) bool {
	op, ds, _ := strings.Cut(v, " ")
	day, err := time.Parse(time.DateOnly, ds)
	if err != nil {
		return false
	}
	t := m.SaveDate
	if t.IsZero() {
		t = m.InternalDate
	}
	d := dateOnly(t.UTC())
	switch op {
	case "since":
		return !d.Before(day)
	case "before":
		return d.Before(day)
	}
	return d.Equal(day)
}

// isSpecialKey: a key that is no header field (withinKey, emailIDKey).
func isSpecialKey(k string) bool { return strings.HasPrefix(k, "\x00") }

// withinKey marks, as a header key no field can have, WITHIN's OLDER and
// YOUNGER (RFC 5032), which go-imap's SearchCriteria cannot hold: the
// value is "<" (younger) or ">" (older) and a number of seconds.
const withinKey = "\x00WITHIN"

// within: whether a message that arrived at t is younger ("<n") or older
// (">n") than n seconds.
func within(v string, t time.Time) bool {
	n, err := strconv.ParseInt(v[1:], 10, 64)
	if err != nil {
		return false
	}
	age := time.Since(t)
	if v[0] == '<' {
		return age <= time.Duration(n)*time.Second
	}
	return age >= time.Duration(n)*time.Second
}

// topModSeq is the n of a MODSEQ n key that every match must satisfy (one
// at the top level of criteria, which ANDs its keys; the highest if there
// are several): only messages with a MODSEQ of at least n can match.
func topModSeq(c *imap.SearchCriteria) (uint64, bool) {
	var n uint64
	for _, h := range c.Header {
		if h.Key != modSeqKey {
			continue
		}
		if v, err := strconv.ParseUint(h.Value, 10, 64); err == nil && v > n {
			n = v
		}
	}
	return n, n > 0
}
