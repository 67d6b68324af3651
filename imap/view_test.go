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
