package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/store"
)

// The conformance tests of what the front-ends use besides the contract's
// core (Run lists them with the others): CONDSTORE/QRESYNC, subscriptions,
// METADATA, the web mail's pages, AppendMany, AliasesOf, mailing lists,
// the junk models and their training in the writes that cause it.

func testStoreFlagsIf(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	for i := range 3 {
		mustDeliver(t, b, a.ID, msg(i))
	}
	in := mustMailbox(t, b, a.ID, "INBOX")
	before := in.ModSeq
	if _, err := b.StoreFlags(bg, in.ID, []store.UID{1}, store.FlagsAdd, []string{store.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	out, modified, err := b.StoreFlagsIf(bg, in.ID, []store.UID{1, 2, 3, 9}, store.FlagsAdd, []string{store.FlagSeen}, before)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(modified, []store.UID{1}) || !slices.Equal(uids(out), []store.UID{2, 3}) {
		t.Fatalf("StoreFlagsIf = %v, modified %v; want 2 3, modified 1", uids(out), modified)
	}
	for _, m := range out {
		if !m.Has(store.FlagSeen) || m.ModSeq != before+2 {
			t.Errorf("message %d: %+v, want \\Seen at MODSEQ %d", m.UID, m, before+2)
		}
	}
	// Above every MODSEQ: a plain STORE, which reports nothing modified.
	out, modified, err = b.StoreFlagsIf(bg, in.ID, []store.UID{1}, store.FlagsAdd, []string{store.FlagSeen}, 1<<62)
	if err != nil || len(modified) != 0 || len(out) != 1 || !out[0].Has(store.FlagSeen) {
		t.Fatalf("StoreFlagsIf(high) = %+v, %v, %v", out, modified, err)
	}
	// Nothing changed: no MODSEQ moves.
	m1 := mustMailbox(t, b, a.ID, "INBOX")
	if _, _, err := b.StoreFlagsIf(bg, in.ID, []store.UID{1, 2, 3}, store.FlagsAdd, []string{store.FlagSeen}, 1<<62); err != nil {
		t.Fatal(err)
	}
	if m2 := mustMailbox(t, b, a.ID, "INBOX"); m2.ModSeq != m1.ModSeq {
		t.Errorf("a STORE that changed nothing moved MODSEQ %d -> %d", m1.ModSeq, m2.ModSeq)
	}
}

func testVanished(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	for i := range 6 {
		mustDeliver(t, b, a.ID, msg(i))
	}
	in := mustMailbox(t, b, a.ID, "INBOX")
	if _, err := b.Expunge(bg, in.ID, []store.UID{2, 4}); err != nil {
		t.Fatal(err)
	}
	mid := mustMailbox(t, b, a.ID, "INBOX").ModSeq
	arch, err := b.CreateMailbox(bg, a.ID, "Archive2", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Move(bg, in.ID, []store.UID{5}, arch.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since uint64
		want  []store.UID
	}{{0, []store.UID{2, 4, 5}}, {in.ModSeq, []store.UID{2, 4, 5}}, {mid, []store.UID{5}}, {mid + 1, nil}} {
		got, err := b.Vanished(in.ID, tc.since)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Vanished(since %d) = %v, %v; want %v", tc.since, got, err, tc.want)
		}
	}
	// The history goes with the mailbox.
	if err := b.DeleteMailbox(bg, a.ID, "Archive2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Expunge(bg, arch.ID, []store.UID{1}); err == nil {
		t.Errorf("expunge in a deleted mailbox: no error")
	}
	if got, err := b.Vanished(arch.ID, 0); err != nil || len(got) != 0 {
		t.Errorf("Vanished of a deleted mailbox = %v, %v", got, err)
	}
}

func testSubscriptions(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	if err := b.SetSubscribed(bg, a.ID, "Later", true); err != nil {
		t.Fatal(err)
	}
	if subs, err := b.Subscriptions(a.ID); err != nil || !slices.Equal(subs, []string{"Later"}) {
		t.Fatalf("Subscriptions = %v, %v", subs, err)
	}
	// A mailbox made later takes the name's subscription over.
	m, err := b.CreateMailboxSubscribed(bg, a.ID, "Later", "", false)
	if err != nil || !m.Subscribed {
		t.Fatalf("CreateMailboxSubscribed(Later) = %+v, %v; want subscribed", m, err)
	}
	if subs, _ := b.Subscriptions(a.ID); len(subs) != 0 {
		t.Errorf("Subscriptions after create = %v", subs)
	}
	m, err = b.CreateMailboxSubscribed(bg, a.ID, "Quiet/Child", "", false)
	if err != nil || m.Subscribed {
		t.Fatalf("CreateMailboxSubscribed(Quiet/Child, false) = %+v, %v", m, err)
	}
	if p := mustMailbox(t, b, a.ID, "Quiet"); p.Subscribed {
		t.Errorf("parent made unsubscribed is subscribed")
	}
	if _, err := b.CreateMailboxSubscribed(bg, a.ID, "Later", "", true); !errors.Is(err, store.ErrMailboxExists) {
		t.Errorf("create twice: %v", err)
	}
	if _, err := b.CreateMailboxSubscribed(bg, 1<<40, "X", "", true); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("create for no account: %v", err)
	}
	// A subscribed mailbox deleted stays subscribed by name.
	if err := b.DeleteMailbox(bg, a.ID, "Later"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := b.Subscriptions(a.ID); !slices.Equal(subs, []string{"Later"}) {
		t.Errorf("Subscriptions after delete = %v, want Later", subs)
	}
	if err := b.SetSubscribed(bg, a.ID, "Later", false); err != nil {
		t.Fatal(err)
	}
	if err := b.SetSubscribed(bg, a.ID, "Later", false); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("unsubscribe twice: %v", err)
	}
	if err := b.SetSubscribed(bg, a.ID, "Quiet", true); err != nil {
		t.Fatal(err)
	}
	if p := mustMailbox(t, b, a.ID, "Quiet"); !p.Subscribed {
		t.Errorf("SetSubscribed(Quiet) did not subscribe it")
	}
	if subs, _ := b.Subscriptions(a.ID); len(subs) != 0 {
		t.Errorf("Subscriptions = %v, want none", subs)
	}
}

func testMetadata(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	other := mustAccount(t, b, "eve@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	set := func(mbx store.MailboxID, kv ...string) {
		t.Helper()
		var es []store.MetadataEntry
		for i := 0; i < len(kv); i += 2 {
			e := store.MetadataEntry{Name: kv[i]}
			if kv[i+1] != "<nil>" {
				e.Value = []byte(kv[i+1])
			}
			es = append(es, e)
		}
		if err := b.SetMetadata(bg, a.ID, mbx, es); err != nil {
			t.Fatalf("SetMetadata(%v): %v", kv, err)
		}
	}
	set(0, "/private/comment", "server", "/private/vendor/x/a", "1", "/private/vendor/x/a/deep", "2", "/private/vendor/x/b", "3")
	set(in.ID, "/Shared/Comment", "inbox")
	names := func(es []store.MetadataEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name+"="+string(e.Value))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		mbx   store.MailboxID
		names []string
		depth int
		want  string
	}{
		{0, []string{"/private/comment"}, 0, "/private/comment=server"},
		{0, []string{"/private/vendor/x"}, 0, ""},
		{0, []string{"/private/vendor/x"}, 1, "/private/vendor/x/a=1 /private/vendor/x/b=3"},
		{0, []string{"/private/vendor/x"}, -1, "/private/vendor/x/a=1 /private/vendor/x/a/deep=2 /private/vendor/x/b=3"},
		{in.ID, []string{"/shared/comment", "/private/comment"}, 0, "/shared/comment=inbox"},
	} {
		got, err := b.Metadata(a.ID, tc.mbx, tc.names, tc.depth)
		if err != nil || names(got) != tc.want {
			t.Errorf("Metadata(%d, %v, %d) = %q, %v; want %q", tc.mbx, tc.names, tc.depth, names(got), err, tc.want)
		}
	}
	set(0, "/private/comment", "<nil>")
	if got, _ := b.Metadata(a.ID, 0, []string{"/private/comment"}, 0); len(got) != 0 {
		t.Errorf("removed entry still there: %q", names(got))
	}
	// Another account's mailbox is no mailbox; nothing is set.
	err := b.SetMetadata(bg, other.ID, in.ID, []store.MetadataEntry{{Name: "/private/x", Value: []byte("y")}})
	if !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("metadata on another's mailbox: %v", err)
	}
	// The limit: all or none.
	many := make([]store.MetadataEntry, store.MaxMetadataEntries)
	for i := range many {
		many[i] = store.MetadataEntry{Name: fmt.Sprintf("/private/n%d", i), Value: []byte("v")}
	}
	if err := b.SetMetadata(bg, a.ID, 0, many); !errors.Is(err, store.ErrMetadataTooMany) {
		t.Errorf("past the limit: %v", err)
	}
	if got, _ := b.Metadata(a.ID, 0, []string{"/private"}, -1); names(got) != "/private/vendor/x/a=1 /private/vendor/x/a/deep=2 /private/vendor/x/b=3" {
		t.Errorf("after a refused set: %q", names(got))
	}
	// A mailbox's entries go with it.
	box, err := b.CreateMailbox(bg, a.ID, "Notes", "")
	if err != nil {
		t.Fatal(err)
	}
	set(box.ID, "/private/comment", "notes")
	if err := b.DeleteMailbox(bg, a.ID, "Notes"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Metadata(a.ID, box.ID, []string{"/private/comment"}, 0); len(got) != 0 {
		t.Errorf("entries of a deleted mailbox: %q", names(got))
	}
}

func testPage(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	for i := range 10 {
		mustDeliver(t, b, a.ID, msg(i))
	}
	in := mustMailbox(t, b, a.ID, "INBOX")
	if _, err := b.Expunge(bg, in.ID, []store.UID{6}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		anchor store.UID
		n      int
		older  bool
		want   []store.UID
	}{
		{0, 3, true, []store.UID{10, 9, 8}},
		{8, 3, true, []store.UID{7, 5, 4}},
		{2, 5, true, []store.UID{1}},
		{1, 5, true, nil},
		{4, 3, false, []store.UID{8, 7, 5}},
		{9, 5, false, []store.UID{10}},
		{10, 5, false, nil},
		{0, 0, true, nil},
		{99, 2, true, []store.UID{10, 9}},
	} {
		got, err := b.Page(in.ID, tc.anchor, tc.n, tc.older)
		if err != nil || !slices.Equal(uids(got), tc.want) {
			t.Errorf("Page(%d, %d, %v) = %v, %v; want %v", tc.anchor, tc.n, tc.older, uids(got), err, tc.want)
		}
	}
	if _, err := b.Page(1<<40, 0, 5, true); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("Page of no mailbox: %v", err)
	}
}

func testAppendMany(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	mustDeliver(t, b, a.ID, msg(0))
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	items := []store.AppendItem{
		{Body: msg(1), Flags: []string{`\seen`, "$Label"}, Date: date},
		{Body: msg(2)},
		{Body: msg(3), Flags: []string{store.FlagDeleted}},
	}
	got, err := b.AppendMany(bg, in.ID, items)
	if err != nil || len(got) != 3 {
		t.Fatalf("AppendMany = %v, %v", got, err)
	}
	for i, d := range got {
		if d.UID != store.UID(i+2) || d.Mailbox != in.ID || d.UIDValidity != in.UIDValidity {
			t.Errorf("item %d: %+v", i, d)
		}
	}
	msgs, err := b.List(in.ID)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("List = %v, %v", msgs, err)
	}
	if m := msgs[1]; !slices.Equal(m.Flags, []string{"$Label", store.FlagSeen}) || !m.InternalDate.Equal(date) {
		t.Errorf("first item stored as %+v", m)
	}
	for i := range 3 {
		body, err := b.ReadMessage(in.ID, store.UID(i+2))
		if err != nil || !bytes.Equal(body, msg(i+1)) {
			t.Errorf("item %d read back %q, %v", i, body, err)
		}
	}
	if mb := mustMailbox(t, b, a.ID, "INBOX"); mb.Messages != 4 || mb.Unseen != 3 || mb.Deleted != 1 || mb.UIDNext != 5 {
		t.Errorf("INBOX counts after AppendMany: %+v", mb)
	}
	if _, err := b.AppendMany(bg, 1<<40, items); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("AppendMany to no mailbox: %v", err)
	}
}

func testAliasesOf(t *testing.T, f Factory) {
	b := f.New(t)
	mustAccount(t, b, "bob@example.org")
	mustAccount(t, b, "carol@example.org")
	o := store.ResolveOptions{}
	for _, al := range []struct {
		addr    string
		targets []string
	}{
		{"sales@example.org", []string{"bob@example.org", "carol@example.org"}},
		{"boss@example.org", []string{"Bob@Example.org"}},
		{"team@example.org", []string{"sales@example.org"}}, // through another alias: not counted
		{"@example.org", []string{"bob@example.org"}},       // catch-all: not counted
	} {
		if _, err := b.SetAlias(bg, al.addr, al.targets, o); err != nil {
			t.Fatalf("SetAlias(%s): %v", al.addr, err)
		}
	}
	got, err := b.AliasesOf("BOB@example.org")
	if err != nil || !slices.Equal(got, []string{"boss@example.org", "sales@example.org"}) {
		t.Errorf("AliasesOf(bob) = %v, %v", got, err)
	}
	if got, err := b.AliasesOf("nobody@example.org"); err != nil || len(got) != 0 {
		t.Errorf("AliasesOf(nobody) = %v, %v", got, err)
	}
	if _, err := b.AliasesOf("not an address"); err == nil {
		t.Errorf("AliasesOf(bad address): no error")
	}
}

func testLists(t *testing.T, f Factory) {
	b := f.New(t)
	mustAccount(t, b, "bob@example.org")
	if _, err := b.SetAlias(bg, "alias@example.org", []string{"bob@example.org"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := b.CreateList(bg, store.List{Address: "News@Example.org", Moderators: []string{"bob@example.org", "BOB@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Address != "news@example.org" || l.Post != store.PostMembers || l.ReplyTo != store.ReplyToSender || !slices.Equal(l.Moderators, []string{"bob@example.org"}) || l.Created.IsZero() {
		t.Fatalf("CreateList = %+v", l)
	}
	for _, tc := range []struct {
		l    store.List
		want error
	}{
		{store.List{Address: "news@example.org"}, store.ErrListExists},
		{store.List{Address: "bob@example.org"}, store.ErrAddressTaken},
		{store.List{Address: "alias@example.org"}, store.ErrAddressTaken},
		{store.List{Address: "bob-bounces@example.org"}, nil}, // its own bounce address is free...
		{store.List{Address: "x@example.org", Post: "nobody"}, nil},
		{store.List{Address: "y@example.org", Post: store.PostModerators}, nil},
	} {
		_, err := b.CreateList(bg, tc.l)
		switch {
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("CreateList(%s) = %v, want %v", tc.l.Address, err, tc.want)
		case tc.want == nil && tc.l.Address == "bob-bounces@example.org" && err != nil:
			t.Errorf("CreateList(%s) = %v", tc.l.Address, err)
		case tc.want == nil && tc.l.Address != "bob-bounces@example.org" && err == nil:
			t.Errorf("CreateList(%+v): no error", tc.l)
		}
	}
	// A list's bounce address is taken for accounts, aliases and lists.
	if _, err := b.CreateAccount(bg, "news-bounces@example.org", "secret"); !errors.Is(err, store.ErrAddressTaken) {
		t.Errorf("account at a bounce address: %v", err)
	}
	if _, err := b.SetAlias(bg, "news-bounces@example.org", []string{"bob@example.org"}, store.ResolveOptions{}); !errors.Is(err, store.ErrAddressTaken) {
		t.Errorf("alias at a bounce address: %v", err)
	}
	if _, err := b.CreateAccount(bg, "news@example.org", "secret"); !errors.Is(err, store.ErrAddressTaken) {
		t.Errorf("account at a list's address: %v", err)
	}
	l.ReplyTo, l.Archive = store.ReplyToList, "https://lists.example.org/news"
	if err := b.UpdateList(bg, *l); err != nil {
		t.Fatal(err)
	}
	got, err := b.MailingList("news@example.org")
	if err != nil || got.ReplyTo != store.ReplyToList || got.Archive != l.Archive || !got.Created.Equal(l.Created) {
		t.Errorf("MailingList after update = %+v, %v", got, err)
	}
	if err := b.UpdateList(bg, store.List{Address: "none@example.org"}); !errors.Is(err, store.ErrNoList) {
		t.Errorf("update of no list: %v", err)
	}
	all, err := b.MailingLists()
	if err != nil || len(all) != 2 || all[0].Address != "bob-bounces@example.org" || all[1].Address != "news@example.org" {
		t.Errorf("MailingLists = %+v, %v", all, err)
	}

	added, err := b.AddMembers(bg, "news@example.org", []string{"a@elsewhere.net", "B@elsewhere.net", "a@elsewhere.net"})
	if err != nil || !slices.Equal(added, []string{"a@elsewhere.net", "b@elsewhere.net"}) {
		t.Fatalf("AddMembers = %v, %v", added, err)
	}
	if added, err := b.AddMembers(bg, "news@example.org", []string{"a@elsewhere.net"}); err != nil || len(added) != 0 {
		t.Errorf("AddMembers again = %v, %v", added, err)
	}
	if _, err := b.AddMembers(bg, "none@example.org", []string{"a@elsewhere.net"}); !errors.Is(err, store.ErrNoList) {
		t.Errorf("AddMembers to no list: %v", err)
	}
	res, err := b.ResolveAddress("news@example.org", store.ResolveOptions{})
	if err != nil || !slices.Equal(res.Lists, []string{"news@example.org"}) {
		t.Errorf("ResolveAddress(list) = %+v, %v", res, err)
	}
	res, err = b.ResolveAddress("news-bounces@example.org", store.ResolveOptions{})
	if err != nil || res.Bounces != "news@example.org" {
		t.Errorf("ResolveAddress(bounce address) = %+v, %v", res, err)
	}

	// Bounces: once a day counts; the third day disables, once.
	day := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		when     time.Time
		disabled bool
	}{
		{day, false}, {day.Add(time.Hour), false}, {day.Add(24 * time.Hour), false},
		{day.Add(48 * time.Hour), true}, {day.Add(72 * time.Hour), false},
	} {
		off, err := b.RecordBounce(bg, "news@example.org", "a@elsewhere.net", tc.when, 3)
		if err != nil || off != tc.disabled {
			t.Errorf("bounce %d: %v, %v; want %v", i, off, err, tc.disabled)
		}
	}
	m, err := b.ListMember("news@example.org", "A@elsewhere.net")
	if err != nil || !m.Disabled || len(m.BounceDays) != 3 {
		t.Errorf("ListMember after bounces = %+v, %v", m, err)
	}
	// A long quiet stretch starts the count again.
	if off, err := b.RecordBounce(bg, "news@example.org", "b@elsewhere.net", day, 2); err != nil || off {
		t.Fatal(off, err)
	}
	if off, err := b.RecordBounce(bg, "news@example.org", "b@elsewhere.net", day.Add(30*24*time.Hour), 2); err != nil || off {
		t.Errorf("bounce after a quiet month disabled: %v, %v", off, err)
	}
	if m, _ := b.ListMember("news@example.org", "b@elsewhere.net"); m == nil || len(m.BounceDays) != 1 {
		t.Errorf("bounce days after a quiet month: %+v", m)
	}
	if _, err := b.RecordBounce(bg, "news@example.org", "z@elsewhere.net", day, 3); !errors.Is(err, store.ErrNoMember) {
		t.Errorf("bounce of no member: %v", err)
	}
	// Adding a disabled member enables it.
	if added, err := b.AddMembers(bg, "news@example.org", []string{"a@elsewhere.net"}); err != nil || !slices.Equal(added, []string{"a@elsewhere.net"}) {
		t.Errorf("AddMembers(disabled) = %v, %v", added, err)
	}
	members, err := b.Members("news@example.org")
	if err != nil || len(members) != 2 || members[0].Address != "a@elsewhere.net" || members[0].Disabled || len(members[0].BounceDays) != 0 {
		t.Errorf("Members = %+v, %v", members, err)
	}
	removed, err := b.RemoveMembers(bg, "news@example.org", []string{"b@elsewhere.net", "z@elsewhere.net"})
	if err != nil || !slices.Equal(removed, []string{"b@elsewhere.net"}) {
		t.Errorf("RemoveMembers = %v, %v", removed, err)
	}
	if _, err := b.ListMember("news@example.org", "b@elsewhere.net"); !errors.Is(err, store.ErrNoMember) {
		t.Errorf("ListMember(removed) = %v", err)
	}
	if err := b.DeleteList(bg, "news@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MailingList("news@example.org"); !errors.Is(err, store.ErrNoList) {
		t.Errorf("MailingList(deleted) = %v", err)
	}
	if _, err := b.Members("news@example.org"); !errors.Is(err, store.ErrNoList) {
		t.Errorf("Members(deleted) = %v", err)
	}
	if err := b.DeleteList(bg, "news@example.org"); !errors.Is(err, store.ErrNoList) {
		t.Errorf("delete twice: %v", err)
	}
	// Its address is free again, with no members left behind.
	if _, err := b.CreateList(bg, store.List{Address: "news@example.org"}); err != nil {
		t.Fatal(err)
	}
	if members, err := b.Members("news@example.org"); err != nil || len(members) != 0 {
		t.Errorf("members of the list made again: %+v, %v", members, err)
	}
}

// words is the tokenizer of the junk tests: the message's words, lower
// case, each once.
func words(r io.Reader) []string {
	b, _ := io.ReadAll(r)
	out := strings.Fields(strings.ToLower(string(b)))
	slices.Sort(out)
	return slices.Compact(out)
}

func junkBackend(t *testing.T, f Factory, o JunkOptions) Backend {
	if f.NewJunk == nil {
		t.Fatal("the factory cannot make a store that trains junk models")
	}
	return f.NewJunk(t, o)
}

// lookup reads acct's model once every training committed so far is in
// it (bbolt applies them in batches after the commit that queued them;
// PostgreSQL in that commit).
func lookup(t testing.TB, b Backend, acct uint64, toks ...string) (store.JunkStats, []store.JunkCounts) {
	t.Helper()
	if _, err := b.JunkApplyPending(bg); err != nil {
		t.Fatal(err)
	}
	counts := make([]store.JunkCounts, len(toks))
	st, err := b.JunkLookup(acct, toks, counts)
	if err != nil {
		t.Fatal(err)
	}
	return st, counts
}

func testJunkTraining(t *testing.T, f Factory) {
	b := junkBackend(t, f, JunkOptions{Tokens: words, Shared: true})
	a := mustAccount(t, b, "bob@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	junk := mustMailbox(t, b, a.ID, "Junk")
	trash := mustMailbox(t, b, a.ID, "Trash")
	spam := []byte("Subject: cheap pills\r\n\r\ncheap pills now\r\n")
	ham := []byte("Subject: lunch\r\n\r\nlunch tomorrow?\r\n")
	mustDeliver(t, b, a.ID, spam) // 1
	mustDeliver(t, b, a.ID, ham)  // 2

	// Into Junk: spam, in the account's model and the shared one.
	res, err := b.Move(bg, in.ID, []store.UID{1}, junk.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, c := lookup(t, b, a.ID, "pills", "lunch", "", "pills")
	if st.Spam != 1 || st.Ham != 0 || st.Tokens != 4 || c[0] != (store.JunkCounts{Spam: 1}) || c[1] != (store.JunkCounts{}) || c[3] != c[0] {
		t.Fatalf("after the move into Junk: %+v %+v", st, c)
	}
	if st, _ := lookup(t, b, store.SharedJunkModel); st.Spam != 1 {
		t.Errorf("shared model after the move: %+v", st)
	}
	// Copied into Junk again: already spam, nothing changes.
	if _, err := b.Copy(bg, junk.ID, res.Dest, junk.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := lookup(t, b, a.ID); st.Spam != 1 {
		t.Errorf("spam trained twice: %+v", st)
	}
	// Out of Junk into Trash says nothing; out into INBOX is ham, moved over.
	if _, err := b.Copy(bg, junk.ID, res.Dest, trash.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := lookup(t, b, a.ID); st.Spam != 1 || st.Ham != 0 {
		t.Errorf("after the copy into Trash: %+v", st)
	}
	if _, err := b.Move(bg, junk.ID, res.Dest, in.ID); err != nil {
		t.Fatal(err)
	}
	st, c = lookup(t, b, a.ID, "pills")
	if st.Spam != 0 || st.Ham != 1 || c[0] != (store.JunkCounts{Ham: 1}) {
		t.Errorf("after the move out of Junk: %+v %+v", st, c)
	}
	// $Junk on the other message: spam, in the STORE's write.
	out, err := b.StoreFlags(bg, in.ID, []store.UID{2}, store.FlagsAdd, []string{store.FlagJunk})
	if err != nil || len(out) != 1 {
		t.Fatal(out, err)
	}
	st, c = lookup(t, b, a.ID, "lunch", "pills")
	if st.Spam != 1 || st.Ham != 1 || c[0] != (store.JunkCounts{Spam: 1}) || c[1] != (store.JunkCounts{Ham: 1}) {
		t.Errorf("after $Junk: %+v %+v", st, c)
	}
	// Removing $Junk trains nothing; $NotJunk moves it to ham.
	if _, err := b.StoreFlags(bg, in.ID, []store.UID{2}, store.FlagsRemove, []string{store.FlagJunk}); err != nil {
		t.Fatal(err)
	}
	if st, _ := lookup(t, b, a.ID); st.Spam != 1 {
		t.Errorf("after -$Junk: %+v", st)
	}
	if _, err := b.StoreFlags(bg, in.ID, []store.UID{2}, store.FlagsAdd, []string{store.FlagNotJunk}); err != nil {
		t.Fatal(err)
	}
	if st, _ := lookup(t, b, a.ID); st.Spam != 0 || st.Ham != 2 {
		t.Errorf("after $NotJunk: %+v", st)
	}
	// A move that fails trains nothing.
	if _, err := b.Move(bg, in.ID, []store.UID{2}, 1<<40); err == nil {
		t.Fatal("move to no mailbox: no error")
	}
	if st, _ := lookup(t, b, a.ID); st.Spam != 0 || st.Ham != 2 {
		t.Errorf("after a failed move: %+v", st)
	}
	if n, err := b.JunkModelSize(a.ID); err != nil || n <= 0 {
		t.Errorf("JunkModelSize = %d, %v", n, err)
	}
	// The model goes with the account.
	if err := b.DeleteAccount(bg, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if st, _ := lookup(t, b, a.ID); st != (store.JunkStats{}) {
		t.Errorf("model of a deleted account: %+v", st)
	}
}

func testJunkDelivery(t *testing.T, f Factory) {
	b := junkBackend(t, f, JunkOptions{Tokens: words})
	a := mustAccount(t, b, "bob@example.org")
	// No Junk mailbox: one is made, \Junk.
	if err := b.DeleteMailbox(bg, a.ID, "Junk"); err != nil {
		t.Fatal(err)
	}
	d, err := b.Deliver(bg, &store.Delivery{Body: msg(1), Targets: []store.Target{
		{Account: a.ID, Junk: true, Mailbox: "Sent"},
		{Account: a.ID, Mailbox: "Sent", Contacts: []string{"Carol@Example.net", " dave@example.net ", ""}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	junk, err := b.MailboxByID(d[0].Mailbox)
	if err != nil || junk.Name != "Junk" || junk.SpecialUse != `\Junk` || junk.Messages != 1 {
		t.Fatalf("junk delivery went to %+v, %v", junk, err)
	}
	if sent := mustMailbox(t, b, a.ID, "Sent"); d[1].Mailbox != sent.ID {
		t.Errorf("second target went to %d, want Sent %d", d[1].Mailbox, sent.ID)
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{{"carol@example.net", true}, {"DAVE@example.net", true}, {"eve@example.net", false}} {
		if ok, err := b.JunkTrusted(a.ID, tc.addr); err != nil || ok != tc.want {
			t.Errorf("JunkTrusted(%s) = %v, %v", tc.addr, ok, err)
		}
	}
	if err := b.JunkTrust(bg, a.ID, []string{"eve@example.net", "carol@example.net"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.JunkTrusted(a.ID, "eve@example.net"); !ok {
		t.Errorf("JunkTrust did not trust eve")
	}
	if st, _ := lookup(t, b, a.ID); st.Contacts != 3 {
		t.Errorf("contacts = %d, want 3", st.Contacts)
	}
	if err := b.JunkTrust(bg, 1<<40, []string{"x@example.net"}); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("JunkTrust of no account: %v", err)
	}
	// A renamed \Junk mailbox is still where junk goes.
	if err := b.RenameMailbox(bg, a.ID, "Junk", "Spam"); err != nil {
		t.Fatal(err)
	}
	d, err = b.Deliver(bg, &store.Delivery{Body: msg(2), Targets: []store.Target{{Account: a.ID, Junk: true}}})
	if err != nil || d[0].Mailbox != junk.ID {
		t.Errorf("junk after rename went to %+v, %v; want %d", d, err, junk.ID)
	}
}

func testJunkTrainMany(t *testing.T, f Factory) {
	b := junkBackend(t, f, JunkOptions{Tokens: words, MaxTokens: 20})
	a := mustAccount(t, b, "bob@example.org")
	var samples []store.JunkSample
	for i := range 10 {
		toks := []string{"common", "word" + string(rune('a'+i)), "other" + string(rune('a'+i))}
		class := store.JunkHam
		if i%2 == 0 {
			class = store.JunkSpam
			toks = append(toks, "spamword")
		}
		samples = append(samples, store.JunkSample{ID: []byte{byte(i)}, Tokens: toks, Class: class})
	}
	n, err := b.JunkTrainMany(bg, a.ID, samples)
	if err != nil || n != 10 {
		t.Fatalf("JunkTrainMany = %d, %v", n, err)
	}
	st, c := lookup(t, b, a.ID, "common", "spamword")
	if st.Spam != 5 || st.Ham != 5 || c[0] != (store.JunkCounts{Spam: 5, Ham: 5}) || c[1] != (store.JunkCounts{Spam: 5}) {
		t.Errorf("after training: %+v %+v", st, c)
	}
	// 22 tokens > 20: pruned to 18, the ones seen once going first.
	if st.Tokens > 20 {
		t.Errorf("tokens %d over the bound 20", st.Tokens)
	}
	// The same samples again change nothing; one moved over counts.
	if n, err := b.JunkTrainMany(bg, a.ID, samples); err != nil || n != 0 {
		t.Errorf("trained again: %d, %v", n, err)
	}
	ok, err := b.JunkTrain(bg, a.ID, []byte{0}, samples[0].Tokens, store.JunkHam)
	if err != nil || !ok {
		t.Errorf("JunkTrain(other class) = %v, %v", ok, err)
	}
	st, c = lookup(t, b, a.ID, "common", "spamword")
	if st.Spam != 4 || st.Ham != 6 || c[0] != (store.JunkCounts{Spam: 4, Ham: 6}) || c[1] != (store.JunkCounts{Spam: 4, Ham: 1}) {
		t.Errorf("after moving one over: %+v %+v", st, c)
	}
	if _, err := b.JunkTrainMany(bg, a.ID, []store.JunkSample{{ID: []byte{1}, Class: store.JunkNone}}); err == nil {
		t.Errorf("class none: no error")
	}
	if _, err := b.JunkTrain(bg, 1<<40, []byte{1}, []string{"x"}, store.JunkSpam); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("JunkTrain of no account: %v", err)
	}
	if ok, err := b.JunkTrain(bg, store.SharedJunkModel, []byte{1}, []string{"x"}, store.JunkSpam); err != nil || !ok {
		t.Errorf("JunkTrain(shared) = %v, %v", ok, err)
	}
}

// A model over its bound drops the same tokens in every backend: those
// seen in the fewest messages, then by key.
func testJunkPrune(t *testing.T, f Factory) {
	b := junkBackend(t, f, JunkOptions{Tokens: words, MaxTokens: 30})
	a := mustAccount(t, b, "bob@example.org")
	var toks []string
	for i := range 40 {
		toks = append(toks, fmt.Sprintf("token-%03d", i*7919)) // half of their keys above 1<<63
	}
	if _, err := b.JunkTrain(bg, a.ID, []byte("1"), toks[:6], store.JunkSpam); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JunkTrain(bg, a.ID, []byte("2"), toks[:6], store.JunkHam); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JunkTrain(bg, a.ID, []byte("3"), toks, store.JunkSpam); err != nil {
		t.Fatal(err)
	}
	// 40 tokens > 30: down to 27, dropping 13 of the 34 seen once, the
	// lowest keys (unsigned) first.
	st, c := lookup(t, b, a.ID, toks...)
	if st.Tokens != 27 {
		t.Fatalf("tokens after prune = %d, want 27", st.Tokens)
	}
	var kept []string
	for i, n := range c {
		if n != (store.JunkCounts{}) {
			kept = append(kept, toks[i])
		}
	}
	once := slices.Clone(toks[6:])
	slices.SortFunc(once, func(x, y string) int {
		hx, hy := store.JunkTokenKey(x), store.JunkTokenKey(y)
		switch {
		case hx < hy:
			return -1
		case hx > hy:
			return 1
		}
		return 0
	})
	var want []string
	for _, tok := range toks {
		if !slices.Contains(once[:13], tok) {
			want = append(want, tok)
		}
	}
	if !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
}

func testReindex(t *testing.T, f Factory) {
	b := f.New(t)
	a := mustAccount(t, b, "bob@example.org")
	for i := range 5 {
		mustDeliver(t, b, a.ID, msg(i))
	}
	in := mustMailbox(t, b, a.ID, "INBOX")
	before, err := b.Structure(in.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	n, err := b.Reindex(bg, func(done, total int) {
		calls++
		if done > total {
			t.Errorf("progress %d of %d", done, total)
		}
	})
	if err != nil || n != 5 || calls == 0 {
		t.Fatalf("Reindex = %d, %v (%d progress calls)", n, err, calls)
	}
	after, err := b.Structure(in.ID, 3)
	if err != nil || after.Envelope == nil || before.Envelope == nil || after.Envelope.Subject != before.Envelope.Subject || after.Size() != before.Size() {
		t.Errorf("structure after Reindex = %+v, %v; before %+v", after, err, before)
	}
}

// Trainings from several writers at once (MOVEs into Junk, $Junk STOREs,
// training from outside, deliveries with trusted senders, all into one
// account's model and the shared one): none is lost or counted twice, and
// none fails (a backend that locks models must take its locks in one
// order).
func testJunkConcurrent(t *testing.T, f Factory) {
	b := junkBackend(t, f, JunkOptions{Tokens: words, Shared: true})
	a := mustAccount(t, b, "bob@example.org")
	in := mustMailbox(t, b, a.ID, "INBOX")
	junk := mustMailbox(t, b, a.ID, "Junk")
	const each = 10
	for i := range 2 * each {
		mustDeliver(t, b, a.ID, msg(i))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for u := range each {
			if _, err := b.Move(bg, in.ID, []store.UID{store.UID(u + 1)}, junk.ID); err != nil {
				t.Errorf("move: %v", err)
			}
		}
	})
	wg.Go(func() {
		for u := range each {
			if _, err := b.StoreFlags(bg, in.ID, []store.UID{store.UID(each + u + 1)}, store.FlagsAdd, []string{store.FlagJunk}); err != nil {
				t.Errorf("store: %v", err)
			}
		}
	})
	wg.Go(func() {
		for i := range each {
			if _, err := b.JunkTrain(bg, a.ID, []byte{byte(i)}, []string{"outside", fmt.Sprint(i)}, store.JunkSpam); err != nil {
				t.Errorf("train: %v", err)
			}
		}
	})
	wg.Go(func() {
		for i := range each {
			_, err := b.Deliver(bg, &store.Delivery{Body: msg(100 + i), Targets: []store.Target{
				{Account: a.ID, Mailbox: "Sent", Contacts: []string{fmt.Sprintf("friend%d@example.net", i)}},
				{Account: a.ID, Junk: true},
			}})
			if err != nil {
				t.Errorf("deliver: %v", err)
			}
		}
	})
	wg.Wait()
	st, c := lookup(t, b, a.ID, "body", "outside")
	if st.Spam != 3*each || st.Ham != 0 || st.Contacts != each || c[0].Spam != 2*each || c[1].Spam != each {
		t.Errorf("account's model: %+v, counts %+v; want %d spam (%d with \"body\", %d from outside), %d contacts", st, c, 3*each, 2*each, each, each)
	}
	if st, _ := lookup(t, b, store.SharedJunkModel); st.Spam != 3*each {
		t.Errorf("shared model: %+v, want %d spam", st, 3*each)
	}
}

// What one node writes besides mail, every other node sharing the store
// reads at once: lists and members, subscriptions, METADATA, expunged
// UIDs, junk models and trusted senders, aliases of an address.
func testExtrasOtherNode(t *testing.T, f Factory) {
	a := f.New(t)
	b := peer(t, f, a)
	bob := mustAccount(t, a, "bob@example.org")
	in := mustMailbox(t, a, bob.ID, "INBOX")
	if _, err := a.CreateList(bg, store.List{Address: "news@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddMembers(bg, "news@example.org", []string{"x@elsewhere.net"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSubscribed(bg, bob.ID, "Someday", true); err != nil {
		t.Fatal(err)
	}
	if err := a.SetMetadata(bg, bob.ID, in.ID, []store.MetadataEntry{{Name: "/private/color", Value: []byte("red")}}); err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, a, bob.ID, msg(1))
	if _, err := a.Expunge(bg, in.ID, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.JunkTrain(bg, bob.ID, []byte("x"), []string{"viagra"}, store.JunkSpam); err != nil {
		t.Fatal(err)
	}
	if err := a.JunkTrust(bg, bob.ID, []string{"mum@example.net"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetAlias(bg, "robert@example.org", []string{"bob@example.org"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}

	if m, err := b.ListMember("news@example.org", "x@elsewhere.net"); err != nil || m.Address != "x@elsewhere.net" {
		t.Errorf("member on the other node: %+v, %v", m, err)
	}
	if r, err := b.ResolveAddress("news@example.org", store.ResolveOptions{}); err != nil || len(r.Lists) != 1 {
		t.Errorf("list resolved on the other node: %+v, %v", r, err)
	}
	if subs, err := b.Subscriptions(bob.ID); err != nil || !slices.Equal(subs, []string{"Someday"}) {
		t.Errorf("subscriptions on the other node: %v, %v", subs, err)
	}
	if es, err := b.Metadata(bob.ID, in.ID, []string{"/private/color"}, 0); err != nil || len(es) != 1 || string(es[0].Value) != "red" {
		t.Errorf("metadata on the other node: %+v, %v", es, err)
	}
	if v, err := b.Vanished(in.ID, 0); err != nil || !slices.Equal(v, []store.UID{1}) {
		t.Errorf("vanished on the other node: %v, %v", v, err)
	}
	st, c := lookup(t, b, bob.ID, "viagra")
	if st.Spam != 1 || c[0].Spam != 1 || st.Contacts != 1 {
		t.Errorf("junk model on the other node: %+v %+v", st, c)
	}
	if ok, err := b.JunkTrusted(bob.ID, "mum@example.net"); err != nil || !ok {
		t.Errorf("trusted sender on the other node: %v, %v", ok, err)
	}
	if al, err := b.AliasesOf("bob@example.org"); err != nil || !slices.Equal(al, []string{"robert@example.org"}) {
		t.Errorf("AliasesOf on the other node: %v, %v", al, err)
	}
}
