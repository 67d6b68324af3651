package imap

import (
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// errOverflow ends a session that fell too far behind its mailbox.
var errOverflow = &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Too many changes while you were away; please reconnect"}

// view is one session's picture of its selected mailbox (RFC 9051 2.3.1.2):
// uids[i] is the message the client knows as sequence number i+1.
//
// uids is touched only by the session's goroutine (commands and IDLE never
// run at once) and is never modified in place: it may be the very slice
// the mailbox holds. pending, overflow and searchRes are guarded by m.mu.
type view struct {
	m        *mailbox
	readOnly bool
	uids     []store.UID
	wake     wakeup // poked by the mailbox with each event queued

	pending  []store.Event
	overflow bool

	searchRes []store.UID

	// recent are the messages \Recent to this session, ascending (a
	// read-only view shares the ones unclaimed when it opened, claiming
	// none). keywords are those announced in FLAGS. Session goroutine only.
	recent   []store.UID
	keywords map[string]struct{}
	// selModSeq is the mailbox's HIGHESTMODSEQ when the view opened.
	selModSeq uint64
}

func (m *mailbox) newView(readOnly bool) *view {
	v := &view{m: m, readOnly: readOnly, keywords: make(map[string]struct{})}
	m.mu.Lock()
	v.uids = m.uids
	v.selModSeq = m.modseq
	m.views[v] = struct{}{}
	for k := range m.keywords {
		v.keywords[k] = struct{}{}
	}
	if readOnly {
		i, _ := slices.BinarySearch(v.uids, m.recentFrom)
		v.recent = slices.Clone(v.uids[i:])
	}
	m.mu.Unlock()
	if !readOnly {
		v.recent = m.claimRecent(v.uids)
	}
	return v
}

// isRecent: whether uid is \Recent to this session.
func (v *view) isRecent(uid store.UID) bool {
	_, ok := slices.BinarySearch(v.recent, uid)
	return ok
}

// showRecent: whether the message's flags show \Recent to this session
// (an IMAP4rev1 session; IMAP4rev2 has no \Recent).
func (v *view) showRecent(uid store.UID, rev2 bool) bool {
	return !rev2 && v.isRecent(uid)
}

// newKeywords reports whether flags hold keywords not yet announced in
// FLAGS, and adds them.
func (v *view) newKeywords(flags []string) bool {
	added := false
	for _, f := range flags {
		if isSystemFlag(f) {
			continue
		}
		if _, ok := v.keywords[f]; !ok && len(v.keywords) < maxKeywords {
			v.keywords[f] = struct{}{}
			added = true
		}
	}
	return added
}

// flagList is the FLAGS of this session: the system flags and the
// keywords announced.
func (v *view) flagList() []imap.Flag {
	out := slices.Clone(systemFlags)
	kws := make([]string, 0, len(v.keywords))
	for k := range v.keywords {
		kws = append(kws, k)
	}
	slices.Sort(kws)
	for _, k := range kws {
		out = append(out, imap.Flag(k))
	}
	return out
}

func (v *view) close() {
	v.m.mu.Lock()
	delete(v.m.views, v)
	v.m.mu.Unlock()
	v.m.srv.releaseMailbox(v.m)
}

// updateWriter is what poll writes to (the session's sessionUpdates).
type updateWriter interface {
	// WriteExpunged reports messages gone: their sequence numbers and
	// UIDs, ascending.
	WriteExpunged(seqs []uint32, uids []store.UID) error
	WriteNumMessages(n uint32) error
	WriteMessageFlags(seqNum uint32, uid imap.UID, flags []string, modseq uint64) error
}

// poll reports queued changes to the client, in commit order. Without
// allowExpunge it stops before the first expunge, which stays queued (RFC
// 9051 7.5.1: no EXPUNGE after FETCH, STORE or SEARCH by sequence number).
func (v *view) poll(w updateWriter, allowExpunge bool) error {
	m := v.m
	m.mu.Lock()
	if v.overflow {
		m.mu.Unlock()
		return errOverflow
	}
	evs := v.pending
	v.pending = nil
	shared := m.uids // the mailbox's list, at least as new as evs
	if !allowExpunge {
		if i := slices.IndexFunc(evs, func(e store.Event) bool { return e.Kind == store.EventExpunged }); i >= 0 {
			v.pending = evs[i:]
			evs = evs[:i]
		}
	}
	m.mu.Unlock()

	announced := len(v.uids)
	flushExists := func() error {
		if len(v.uids) != announced {
			if !v.readOnly && len(v.uids) > announced {
				v.recent = append(v.recent, v.m.claimRecent(v.uids[announced:])...)
			}
			announced = len(v.uids)
			return w.WriteNumMessages(uint32(announced))
		}
		return nil
	}
	for _, ev := range evs {
		switch ev.Kind {
		case store.EventAdded:
			v.uids = v.added(shared, ev.Messages)
		case store.EventFlags:
			if err := flushExists(); err != nil {
				return err
			}
			for _, msg := range ev.Messages {
				if i, ok := slices.BinarySearch(v.uids, msg.UID); ok {
					if err := w.WriteMessageFlags(uint32(i+1), imap.UID(msg.UID), msg.Flags, msg.ModSeq); err != nil {
						return err
					}
				}
			}
		case store.EventExpunged:
			if err := flushExists(); err != nil {
				return err
			}
			var seqs []uint32
			var gone []store.UID
			for _, uid := range ev.UIDs {
				if i, ok := slices.BinarySearch(v.uids, uid); ok {
					seqs = append(seqs, uint32(i+1))
					gone = append(gone, uid)
				}
			}
			v.uids = without(v.uids, ev.UIDs)
			v.recent = without(v.recent, ev.UIDs)
			announced = len(v.uids)
			if len(gone) > 0 {
				if err := w.WriteExpunged(seqs, gone); err != nil {
					return err
				}
			}
		}
	}
	if err := flushExists(); err != nil {
		return err
	}
	// Caught up: share the mailbox's slice instead of keeping a copy.
	m.mu.Lock()
	if len(v.pending) == 0 && !v.overflow {
		v.uids = m.uids
	}
	m.mu.Unlock()
	return nil
}

// added returns v.uids with the UIDs of msgs (an EventAdded's) after it.
// When v.uids is a prefix of the mailbox's shared array and the array goes
// on with those UIDs, it is a longer slice of that array, not a copy: a
// delivery into a big mailbox costs each view nothing per message it holds.
func (v *view) added(shared []store.UID, msgs []store.Message) []store.UID {
	n := len(v.uids)
	if n+len(msgs) <= len(shared) && (n == 0 || &shared[0] == &v.uids[0]) {
		ok := true
		for i, msg := range msgs {
			if shared[n+i] != msg.UID {
				ok = false
				break
			}
		}
		if ok {
			return shared[: n+len(msgs) : n+len(msgs)]
		}
	}
	nu := slices.Clip(v.uids)
	for _, msg := range msgs {
		if len(nu) == 0 || msg.UID > nu[len(nu)-1] {
			nu = append(nu, msg.UID)
		}
	}
	return nu
}

// resolve turns a sequence or UID set of the client's into indexes of
// v.uids, ascending and unique. "*" and "$" (SEARCHRES) are handled here;
// numbers the client does not know are ignored.
func (v *view) resolve(set imap.NumSet) []int {
	n := len(v.uids)
	var idx []int
	switch set := set.(type) {
	case imap.SeqSet:
		if len(set) == 1 && (set[0].Start == 1 && set[0].Stop == 0 || set[0].Start == 0 && set[0].Stop == 1) {
			idx = make([]int, 0, n) // 1:*, the common whole-mailbox FETCH
		}
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = uint32(n)
			}
			if stop == 0 {
				stop = uint32(n)
			}
			if start > stop {
				start, stop = stop, start
			}
			if start < 1 {
				start = 1
			}
			for s := start; s <= stop && s <= uint32(n); s++ {
				idx = append(idx, int(s-1))
			}
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			v.m.mu.Lock()
			res := v.searchRes
			v.m.mu.Unlock()
			for _, uid := range res {
				if i, ok := slices.BinarySearch(v.uids, uid); ok {
					idx = append(idx, i)
				}
			}
			return idx
		}
		var last store.UID
		if n > 0 {
			last = v.uids[n-1]
		}
		for _, r := range set {
			start, stop := store.UID(r.Start), store.UID(r.Stop)
			if start == 0 {
				start = last
			}
			if stop == 0 {
				stop = last
			}
			if start > stop {
				start, stop = stop, start
			}
			i := sort.Search(n, func(i int) bool { return v.uids[i] >= start })
			for ; i < n && v.uids[i] <= stop; i++ {
				idx = append(idx, i)
			}
		}
	}
	if !slices.IsSorted(idx) {
		slices.Sort(idx)
	}
	return slices.Compact(idx)
}

// resolveUIDs is uidsOf(resolve(set)). A set of one range (1:*, a page
// of the message list, one message) is answered with a slice of v.uids
// itself, capacity clipped: callers must not write to it.
func (v *view) resolveUIDs(set imap.NumSet) []store.UID {
	n := len(v.uids)
	switch set := set.(type) {
	case imap.SeqSet:
		if len(set) == 1 {
			start, stop := set[0].Start, set[0].Stop
			if start == 0 {
				start = uint32(n)
			}
			if stop == 0 {
				stop = uint32(n)
			}
			if start > stop {
				start, stop = stop, start
			}
			start = max(start, 1)
			stop = min(stop, uint32(n))
			if start > stop {
				return nil
			}
			return v.uids[start-1 : stop : stop]
		}
	case imap.UIDSet:
		if len(set) == 1 && !imap.IsSearchRes(set) {
			var last store.UID
			if n > 0 {
				last = v.uids[n-1]
			}
			start, stop := store.UID(set[0].Start), store.UID(set[0].Stop)
			if start == 0 {
				start = last
			}
			if stop == 0 {
				stop = last
			}
			if start > stop {
				start, stop = stop, start
			}
			i, _ := slices.BinarySearch(v.uids, start)
			j, found := slices.BinarySearch(v.uids, stop)
			if found {
				j++
			}
			if i >= j {
				return nil
			}
			return v.uids[i:j:j]
		}
	}
	return v.uidsOf(v.resolve(set))
}

// uidsOf returns the UIDs at the given indexes.
func (v *view) uidsOf(idx []int) []store.UID {
	out := make([]store.UID, len(idx))
	for k, i := range idx {
		out[k] = v.uids[i]
	}
	return out
}

// seqOf is the client's sequence number of uid, or 0.
func (v *view) seqOf(uid store.UID) uint32 {
	if i, ok := slices.BinarySearch(v.uids, uid); ok {
		return uint32(i + 1)
	}
	return 0
}

// searchFrom finds uid in the ascending list l as slices.BinarySearch
// does, looking first at *at, where a lookup of UIDs in ascending order
// (a FETCH's replies) finds the next one; it leaves *at past what it
// found.
func searchFrom(l []store.UID, uid store.UID, at *int) (int, bool) {
	if i := *at; i < len(l) && l[i] == uid {
		*at = i + 1
		return i, true
	}
	i, ok := slices.BinarySearch(l, uid)
	if ok {
		*at = i + 1
	}
	return i, ok
}

func storeFlags(flags []imap.Flag) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		out = append(out, string(f))
	}
	return out
}
