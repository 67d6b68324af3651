package imap_test

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestFlagsPersist(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	uid := appendMsg(t, c, "INBOX", simpleMsg("flags", "hello"), nil)
	sel := mustSelect(t, c, "INBOX")
	if !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
		t.Errorf("PERMANENTFLAGS %v lacks \\*", sel.PermanentFlags)
	}
	set := imap.UIDSetNum(uid)
	if _, err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "$Custom", imap.FlagAnswered}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	// BODY.PEEK leaves \Seen alone.
	peek := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{peek}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[0].Flags; slices.Contains(got, imap.FlagSeen) || !slices.Contains(got, imap.FlagFlagged) || !slices.Contains(got, "$Custom") || slices.Contains(got, imap.FlagAnswered) {
		t.Errorf("after STORE and BODY.PEEK[]: flags %v", got)
	}
	// BODY[] sets it, and says so in the same response.
	msgs, err = c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Errorf("BODY[] response flags %v lack \\Seen", msgs[0].Flags)
	}
	c.Logout().Wait()

	// A new session sees the flags.
	c2 := e.client(t, nil)
	mustSelect(t, c2, "INBOX")
	msgs, err = c2.Fetch(set, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	want := []imap.Flag{"$Custom", imap.FlagFlagged, imap.FlagSeen}
	got := slices.Clone(msgs[0].Flags)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("flags in new session: %v, want %v", got, want)
	}
}
