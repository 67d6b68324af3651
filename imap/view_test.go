package imap

import (
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// resolveUIDs gives what uidsOf(resolve(set)) gives, for sets of one range
// (answered with a slice of the view's own list) and others, on views with
// gaps in their UIDs, empty views and numbers past the end.
func TestResolveUIDs(t *testing.T) {
	views := map[string][]store.UID{
		"empty": nil,
		"one":   {7},
		"gaps":  {2, 3, 5, 8, 9, 10, 20, 21, 40},
		"dense": {1, 2, 3, 4, 5, 6},
	}
	nums := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 19, 20, 21, 22, 39, 40, 41, 100}
	for name, uids := range views {
		v := &view{m: &mailbox{}, uids: uids}
		var sets []imap.NumSet
		for _, a := range nums {
			for _, b := range nums {
				sets = append(sets, imap.SeqSet{{Start: a, Stop: b}}, imap.UIDSet{{Start: imap.UID(a), Stop: imap.UID(b)}})
			}
			sets = append(sets, imap.SeqSet{{Start: a, Stop: a}, {Start: 1, Stop: 2}}, imap.UIDSet{{Start: imap.UID(a), Stop: 0}, {Start: 3, Stop: 5}})
		}
		for _, set := range sets {
			want := v.uidsOf(v.resolve(set))
			got := v.resolveUIDs(set)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s %v: got %v, want %v", name, fmt.Sprintf("%T", set), set, got, want)
			}
			if cap(got) != len(got) {
				t.Errorf("%s: %v: capacity %d past its length %d: an append would write into the view's list", name, set, cap(got), len(got))
			}
		}
	}
}

// After an expunge, the next delivery extends the mailbox's UID array in
// place, and a view caught up with the mailbox extends its slice of it:
// neither copies the list (a client's EXPUNGE then APPEND, every loop).
func TestExpungeThenDeliveryShares(t *testing.T) {
	m := &mailbox{views: map[*view]struct{}{}, keywords: map[string]struct{}{}, hc: newHeaderCaches(100).cacheFor(1, 1)}
	for u := store.UID(1); u <= 300; u++ {
		m.uids = append(m.uids, u)
	}
	v := &view{m: m, keywords: map[string]struct{}{}}
	m.views[v] = struct{}{}
	v.uids = m.uids
	w := &countingUpdates{}
	m.applyLocked(store.Event{Kind: store.EventExpunged, UIDs: []store.UID{150}})
	if err := v.poll(w, true); err != nil {
		t.Fatal(err)
	}
	before := &m.uids[0]
	m.applyLocked(store.Event{Kind: store.EventAdded, Messages: []store.Message{{UID: 301}}})
	if &m.uids[0] != before {
		t.Errorf("the delivery after an expunge copied the mailbox's array")
	}
	if err := v.poll(w, true); err != nil {
		t.Fatal(err)
	}
	if len(v.uids) != 300 || v.uids[299] != 301 || &v.uids[0] != &m.uids[0] {
		t.Errorf("view has %d UIDs, last %d, sharing %v; want 300, 301, sharing", len(v.uids), v.uids[len(v.uids)-1], &v.uids[0] == &m.uids[0])
	}
	if w.expunged != 1 || w.exists != 1 {
		t.Errorf("reported %d expunges and %d EXISTS, want 1 and 1", w.expunged, w.exists)
	}
}

type countingUpdates struct{ expunged, exists int }

func (c *countingUpdates) WriteExpunged(seqs []uint32, _ []store.UID) error {
	c.expunged += len(seqs)
	return nil
}
func (c *countingUpdates) WriteNumMessages(uint32) error { c.exists++; return nil }
func (c *countingUpdates) WriteMessageFlags(uint32, imap.UID, []string, uint64) error {
	return nil
}
