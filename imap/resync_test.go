package imap_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	pimap "petrel/imap"
	"petrel/store"
	"petrel/store/storetest"
)

// The CONDSTORE/QRESYNC resync as a real client does it (RFC 7162 3.2.5,
// 6): a client syncs INBOX with imapclient and goes offline; another
// session changes flags, expunges messages and new mail arrives; the client
// comes back and must get exactly the changed and new messages with FLAGS
// and MODSEQ, and VANISHED (EARLIER) of exactly the expunged UIDs it knew.
// Applying that delta to its copy must give the server's full state.
//
// go-imap/v2 beta.8's imapclient sends SELECT (CONDSTORE) and FETCH
// (CHANGEDSINCE) but has no QRESYNC SELECT parameters and no VANISHED
// response, so the QRESYNC modes speak through rawConn; the CONDSTORE mode
// is imapclient all the way.

// msgState is one message as the client keeps it.
type msgState struct {
	flags  string // sorted, space-separated, without \Recent
	modSeq uint64
}

func flagString(fs []string) string {
	fs = slices.DeleteFunc(slices.Clone(fs), func(f string) bool { return f == "" || strings.EqualFold(f, `\Recent`) })
	slices.Sort(fs)
	return strings.Join(fs, " ")
}

func imapFlags(fs []imap.Flag) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// resyncServer is an IMAP server over a store file that can be stopped and
// started again on the same file.
type resyncServer struct {
	path string
	st   *store.Store
	srv  *pimap.Server
	addr string
	done chan error
}

func (s *resyncServer) start(t *testing.T) {
	t.Helper()
	st, err := store.Open(s.path, store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.st = st
	s.srv = pimap.New(pimap.Options{Store: st, Logger: quietLogger()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(l) }()
}

func (s *resyncServer) stop(t *testing.T) {
	t.Helper()
	if s.srv == nil {
		return
	}
	if err := s.srv.Close(); err != nil {
		t.Errorf("close server: %v", err)
	}
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := s.st.Close(); err != nil {
		t.Errorf("close store: %v", err)
	}
	s.srv, s.st = nil, nil
}

func (s *resyncServer) deliver(t *testing.T, acct *store.Account, subject string) {
	t.Helper()
	if _, err := s.st.Deliver(context.Background(), &store.Delivery{
		Body:    []byte(crlf(simpleMsg(subject, subject))),
		Targets: []store.Target{{Account: acct.ID}},
	}); err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

func (s *resyncServer) client(t *testing.T) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("user@example.org", "secret").Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func (s *resyncServer) raw(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	r := newRaw(t, c)
	r.login(t)
	return r
}

// fullState is the server's truth: every message's UID, flags and MODSEQ
// and the mailbox's HIGHESTMODSEQ, read with imapclient.
func fullState(t *testing.T, c *imapclient.Client) (map[uint32]msgState, *imap.SelectData) {
	t.Helper()
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	state := map[uint32]msgState{}
	if sel.NumMessages == 0 {
		return state, sel
	}
	ms, err := c.Fetch(allSeqs(), &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	for _, m := range ms {
		state[uint32(m.UID)] = msgState{flagString(imapFlags(m.Flags)), m.ModSeq}
	}
	return state, sel
}

func allSeqs() imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(1, 0)
	return s
}

// uidsOf expands an IMAP UID set ("1,3:5") into its UIDs.
func uidsOf(t *testing.T, set string) []uint32 {
	t.Helper()
	var out []uint32
	for _, part := range strings.Split(strings.TrimSpace(set), ",") {
		lo, hi, found := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			t.Fatalf("bad UID set %q", set)
		}
		b := a
		if found {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				t.Fatalf("bad UID set %q", set)
			}
		}
		for u := min(a, b); u <= max(a, b); u++ {
			out = append(out, uint32(u))
		}
	}
	return out
}

// uidSet writes UIDs as the compact set a client would send.
func uidSet(uids []uint32) string {
	slices.Sort(uids)
	var b strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d:%d", uids[i], uids[j])
		} else {
			fmt.Fprintf(&b, "%d", uids[i])
		}
		i = j + 1
	}
	return b.String()
}

var (
	fetchLine    = regexp.MustCompile(`^\* \d+ FETCH \((.*)\)\r\n$`)
	fetchUID     = regexp.MustCompile(`\bUID (\d+)`)
	fetchFlags   = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	fetchModSeq  = regexp.MustCompile(`\bMODSEQ \((\d+)\)`)
	vanishedLine = regexp.MustCompile(`^\* VANISHED \(EARLIER\) ([0-9:,]+)\r\n$`)
	highestLine  = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`)
)

// delta is what a resync told the client.
type delta struct {
	changed  map[uint32]msgState
	vanished []uint32
	highest  uint64
}

// parseDelta reads the untagged FETCH, VANISHED (EARLIER) and HIGHESTMODSEQ
// lines of a raw reply. Any other FETCH or VANISHED form fails the test.
func parseDelta(t *testing.T, reply string) delta {
	t.Helper()
	d := delta{changed: map[uint32]msgState{}}
	for _, l := range strings.SplitAfter(reply, "\n") {
		if m := highestLine.FindStringSubmatch(l); m != nil {
			d.highest, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if strings.HasPrefix(l, "* VANISHED") {
			m := vanishedLine.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("VANISHED without (EARLIER) in a resync: %q", l)
			}
			d.vanished = append(d.vanished, uidsOf(t, m[1])...)
			continue
		}
		m := fetchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		u, f, ms := fetchUID.FindStringSubmatch(m[1]), fetchFlags.FindStringSubmatch(m[1]), fetchModSeq.FindStringSubmatch(m[1])
		if u == nil || f == nil || ms == nil {
			t.Fatalf("resync FETCH lacks UID, FLAGS or MODSEQ: %q", l)
		}
		uid, _ := strconv.ParseUint(u[1], 10, 32)
		mod, _ := strconv.ParseUint(ms[1], 10, 64)
		if _, dup := d.changed[uint32(uid)]; dup {
			t.Errorf("UID %d reported twice", uid)
		}
		d.changed[uint32(uid)] = msgState{flagString(strings.Fields(f[1])), mod}
	}
	slices.Sort(d.vanished)
	return d
}

// fetchNew finishes a resync with known UIDs: SELECT reported changes
// among the known messages only (RFC 7162 3.2.5.2), so the client fetches
// the ones above its last known UID, as clients do.
func fetchNew(t *testing.T, r *rawConn, d delta, known []uint32) delta {
	t.Helper()
	if got, want := slices.Sorted(maps.Keys(d.changed)), []uint32{3, 4, 7, 12}; !slices.Equal(got, want) {
		t.Errorf("SELECT (QRESYNC) with known UIDs reported changes of %v, want exactly %v", got, want)
	}
	n := parseDelta(t, r.cmd(t, fmt.Sprintf("UID FETCH %d:* (FLAGS MODSEQ)", known[len(known)-1]+1), "OK"))
	for u, m := range n.changed {
		d.changed[u] = m
	}
	return d
}

func TestResyncInterop(t *testing.T) {
	modes := []struct {
		name string
		// resync brings the client up to date given what it knew.
		resync func(t *testing.T, s *resyncServer, uidValidity uint32, modSeq uint64, known []uint32) delta
	}{
		{"QRESYNC SELECT with known UIDs", func(t *testing.T, s *resyncServer, uv uint32, m uint64, known []uint32) delta {
			r := s.raw(t)
			r.cmd(t, "ENABLE QRESYNC", "OK")
			d := parseDelta(t, r.cmd(t, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d %s))", uv, m, uidSet(known)), "OK"))
			return fetchNew(t, r, d, known)
		}},
		{"QRESYNC SELECT with known UIDs and seq-match", func(t *testing.T, s *resyncServer, uv uint32, m uint64, known []uint32) delta {
			r := s.raw(t)
			r.cmd(t, "ENABLE QRESYNC", "OK")
			// The client still believes known[0], known[2] and the
			// last are at sequence numbers 1, 3 and len(known).
			seqs := fmt.Sprintf("1,3,%d", len(known))
			uids := fmt.Sprintf("%d,%d,%d", known[0], known[2], known[len(known)-1])
			d := parseDelta(t, r.cmd(t, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d %s (%s %s)))", uv, m, uidSet(known), seqs, uids), "OK"))
			return fetchNew(t, r, d, known)
		}},
		{"QRESYNC SELECT without known UIDs", func(t *testing.T, s *resyncServer, uv uint32, m uint64, known []uint32) delta {
			r := s.raw(t)
			r.cmd(t, "ENABLE QRESYNC", "OK")
			return parseDelta(t, r.cmd(t, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", uv, m), "OK"))
		}},
		{"UID FETCH CHANGEDSINCE VANISHED", func(t *testing.T, s *resyncServer, uv uint32, m uint64, known []uint32) delta {
			r := s.raw(t)
			r.cmd(t, "ENABLE QRESYNC", "OK")
			sel := parseDelta(t, r.cmd(t, "SELECT INBOX", "OK"))
			if len(sel.changed) != 0 || len(sel.vanished) != 0 {
				t.Errorf("plain SELECT sent a delta: %+v", sel)
			}
			d := parseDelta(t, r.cmd(t, fmt.Sprintf("UID FETCH %s (FLAGS) (CHANGEDSINCE %d VANISHED)", uidSet(known)+","+strconv.Itoa(int(known[len(known)-1])+1)+":*", m), "OK"))
			d.highest = sel.highest
			return d
		}},
		{"imapclient CONDSTORE: FETCH CHANGEDSINCE and UID SEARCH MODSEQ", func(t *testing.T, s *resyncServer, uv uint32, m uint64, known []uint32) delta {
			c := s.client(t)
			sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if sel.UIDValidity != uv {
				t.Fatalf("UIDVALIDITY %d, was %d", sel.UIDValidity, uv)
			}
			d := delta{changed: map[uint32]msgState{}, highest: sel.HighestModSeq}
			ms, err := c.Fetch(allSeqs(), &imap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: m}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range ms {
				d.changed[uint32(msg.UID)] = msgState{flagString(imapFlags(msg.Flags)), msg.ModSeq}
			}
			// UID SEARCH MODSEQ finds the same messages.
			sr, err := c.UIDSearch(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: m + 1}}, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			var found []uint32
			for _, u := range sr.AllUIDs() {
				found = append(found, uint32(u))
			}
			slices.Sort(found)
			if want := slices.Sorted(maps.Keys(d.changed)); !slices.Equal(found, want) {
				t.Errorf("UID SEARCH MODSEQ %d = %v, FETCH CHANGEDSINCE gave %v", m+1, found, want)
			}
			var top uint64
			for _, msg := range d.changed {
				top = max(top, msg.modSeq)
			}
			if sr.ModSeq != top {
				t.Errorf("UID SEARCH MODSEQ's (MODSEQ %d), want the highest of the found, %d", sr.ModSeq, top)
			}
			// Without QRESYNC, a client learns what went by the UIDs left.
			all, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			left := map[uint32]bool{}
			for _, u := range all.AllUIDs() {
				left[uint32(u)] = true
			}
			for _, u := range known {
				if !left[u] {
					d.vanished = append(d.vanished, u)
				}
			}
			return d
		}},
	}
	for _, mode := range modes {
		for _, restart := range []bool{false, true} {
			name := mode.name
			if restart {
				name += " after a restart"
			}
			t.Run(name, func(t *testing.T) {
				s := &resyncServer{path: filepath.Join(t.TempDir(), "mail.db")}
				s.start(t)
				t.Cleanup(func() {
					s.stop(t)
					storetest.Check(t, s.path)
				})
				acct := storetest.Account(t, s.st, "user@example.org")
				for i := 1; i <= 20; i++ {
					s.deliver(t, acct, fmt.Sprintf("m%d", i))
				}
				other := s.client(t)
				mustSelect(t, other, "INBOX")
				setFlags := func(uids []imap.UID, op imap.StoreFlagsOp, flags ...imap.Flag) {
					t.Helper()
					if err := other.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
						t.Fatalf("store %v: %v", uids, err)
					}
				}
				expunge := func(uids ...imap.UID) {
					t.Helper()
					setFlags(uids, imap.StoreFlagsAdd, imap.FlagDeleted)
					if err := other.UIDExpunge(imap.UIDSetNum(uids...)).Close(); err != nil {
						t.Fatalf("expunge %v: %v", uids, err)
					}
				}
				// History before the client's sync: seen flags, and UID 2
				// gone (it must never show up as VANISHED later).
				setFlags([]imap.UID{1, 3, 4, 5, 6, 7, 8, 9, 10}, imap.StoreFlagsAdd, imap.FlagSeen)
				expunge(2)

				// The client syncs and goes offline.
				c := s.client(t)
				before, sel := fullState(t, c)
				if len(before) != 19 || sel.HighestModSeq == 0 {
					t.Fatalf("initial sync: %d messages, HIGHESTMODSEQ %d", len(before), sel.HighestModSeq)
				}
				if err := c.Logout().Wait(); err != nil {
					t.Fatal(err)
				}
				known := slices.Sorted(maps.Keys(before))

				// Offline: flags change, messages go, mail arrives.
				setFlags([]imap.UID{3}, imap.StoreFlagsAdd, imap.FlagFlagged)
				setFlags([]imap.UID{4}, imap.StoreFlagsDel, imap.FlagSeen)
				setFlags([]imap.UID{7}, imap.StoreFlagsAdd, "$Work")
				setFlags([]imap.UID{12}, imap.StoreFlagsAdd, imap.FlagAnswered) // and back: MODSEQ moved, flags did not
				setFlags([]imap.UID{12}, imap.StoreFlagsDel, imap.FlagAnswered)
				setFlags([]imap.UID{6, 8}, imap.StoreFlagsAdd, imap.FlagSeen) // already set: no change
				setFlags([]imap.UID{9}, imap.StoreFlagsAdd, imap.FlagFlagged) // then expunged: only VANISHED
				expunge(5, 9)
				expunge(15)
				s.deliver(t, acct, "new1")
				s.deliver(t, acct, "new2")
				if err := other.Logout().Wait(); err != nil {
					t.Fatal(err)
				}
				if restart {
					s.stop(t)
					s.start(t)
				}

				d := mode.resync(t, s, sel.UIDValidity, sel.HighestModSeq, known)

				after, now := fullState(t, s.client(t))
				wantChanged := []uint32{3, 4, 7, 12, 21, 22}
				if got := slices.Sorted(maps.Keys(d.changed)); !slices.Equal(got, wantChanged) {
					t.Errorf("changed UIDs %v, want exactly %v", got, wantChanged)
				}
				if want := []uint32{5, 9, 15}; !slices.Equal(d.vanished, want) {
					t.Errorf("VANISHED (EARLIER) %v, want exactly %v", d.vanished, want)
				}
				if d.highest != now.HighestModSeq {
					t.Errorf("resync HIGHESTMODSEQ %d, server's %d", d.highest, now.HighestModSeq)
				}
				for uid, m := range d.changed {
					if m.modSeq <= sel.HighestModSeq {
						t.Errorf("UID %d reported with MODSEQ %d, not above the client's %d", uid, m.modSeq, sel.HighestModSeq)
					}
				}
				// The client's copy plus the delta is the server's state.
				mine := maps.Clone(before)
				for _, u := range d.vanished {
					delete(mine, u)
				}
				maps.Copy(mine, d.changed)
				if !maps.Equal(mine, after) {
					t.Errorf("resynced copy differs from the server:\n mine   %v\n server %v", mine, after)
				}
				if after[4].flags != "" || after[3].flags != `\Flagged \Seen` || after[7].flags != `$Work \Seen` {
					t.Errorf("server state not as stored: %v", after)
				}
			})
		}
	}
}
