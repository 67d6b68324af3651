package imap_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"petrel/store"
)

// TestViewsFollowDeliveriesAndExpunges: sessions that poll at different
// moments (each NOOP after a different number of changes) while messages
// arrive and go all end with the sequence numbers of the mailbox as it is.
// The views share the mailbox's UID array and extend their slice of it on
// each delivery instead of copying it; an expunge between a view's polls
// must make it fall back to its own copy, not read the mailbox's newer
// array.
func TestViewsFollowDeliveriesAndExpunges(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.deliver(t, simpleMsg("old", "body"))
	}
	var sessions []*rawConn
	for range 4 {
		r := e.raw(t)
		r.login(t)
		r.cmd(t, "SELECT INBOX", "OK")
		sessions = append(sessions, r)
	}
	id := e.inbox(t)
	ctx := context.Background()
	for i := 1; i <= 40; i++ {
		for range i%3 + 1 {
			e.deliver(t, simpleMsg(fmt.Sprint("new ", i), "body"))
		}
		if i%5 == 0 {
			list, err := e.st.List(id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.Expunge(ctx, id, []store.UID{list[(i*7)%len(list)].UID}); err != nil {
				t.Fatal(err)
			}
		}
		for k, r := range sessions {
			if i%(k+1) == 0 {
				r.cmd(t, "NOOP", "OK")
			}
		}
	}
	list, err := e.st.List(id)
	if err != nil {
		t.Fatal(err)
	}
	fetchRe := regexp.MustCompile(`(?m)^\* (\d+) FETCH \(UID (\d+)\)`)
	for k, r := range sessions {
		r.cmd(t, "NOOP", "OK")
		out := r.cmd(t, "FETCH 1:* (UID)", "OK")
		got := fetchRe.FindAllStringSubmatch(out, -1)
		if len(got) != len(list) {
			t.Fatalf("session %d: %d messages, the mailbox has %d:\n%s", k, len(got), len(list), out)
		}
		for i, m := range got {
			seq, _ := strconv.Atoi(m[1])
			uid, _ := strconv.Atoi(m[2])
			if seq != i+1 || store.UID(uid) != list[i].UID {
				t.Fatalf("session %d: * %d FETCH (UID %d), want * %d FETCH (UID %d)", k, seq, uid, i+1, list[i].UID)
			}
		}
	}
}
