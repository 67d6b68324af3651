package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

func TestMailingLists(t *testing.T) {
	s := storetest.Open(t)
	storetest.Account(t, s, "bob@example.com")
	l, err := s.CreateList(ctx, store.List{Address: "News@Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Address != "news@example.com" || l.Post != store.PostMembers || l.ReplyTo != store.ReplyToSender {
		t.Errorf("defaults: %+v", l)
	}
	if store.BounceAddress(l.Address) != "news-bounces@example.com" {
		t.Errorf("BounceAddress = %s", store.BounceAddress(l.Address))
	}
	for _, tc := range []struct {
		l   store.List
		err error
	}{
		{store.List{Address: "news@example.com"}, store.ErrListExists},
		{store.List{Address: "bob@example.com"}, store.ErrAddressTaken},
		{store.List{Address: "news-bounces@example.com"}, store.ErrAddressTaken},
	} {
		_, err := s.CreateList(ctx, tc.l)
		if !errors.Is(err, tc.err) {
			t.Errorf("create %s: %v, want %v", tc.l.Address, err, tc.err)
		}
	}
	if _, err := s.CreateAccount(ctx, "news-bounces@example.com", "pw"); !errors.Is(err, store.ErrAddressTaken) {
		t.Errorf("account at a list's bounce address: %v", err)
	}
	for _, bad := range []store.List{{Address: "x@example.com", Post: "everyone"}, {Address: "x@example.com", ReplyTo: "all"}, {Address: "x@example.com", Post: store.PostModerators}} {
		if _, err := s.CreateList(ctx, bad); err == nil {
			t.Errorf("bad list %+v accepted", bad)
		}
	}
	if err := s.UpdateList(ctx, store.List{Address: "news@example.com", Post: store.PostModerators, Moderators: []string{"Boss@example.com"}, ReplyTo: store.ReplyToList, Archive: "https://example.com/news/"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.MailingList("news@example.com")
	if err != nil || got.Post != store.PostModerators || !slices.Equal(got.Moderators, []string{"boss@example.com"}) || got.ReplyTo != store.ReplyToList || got.Archive == "" || !got.Created.Equal(l.Created) {
		t.Errorf("after update: %+v, %v", got, err)
	}

	added, err := s.AddMembers(ctx, "news@example.com", []string{"b@x.org", "A@x.org", "bob@example.com", "a@x.org"})
	if err != nil || !slices.Equal(added, []string{"b@x.org", "a@x.org", "bob@example.com"}) {
		t.Fatalf("add: %v, %v", added, err)
	}
	if added, _ := s.AddMembers(ctx, "news@example.com", []string{"a@x.org"}); len(added) != 0 {
		t.Errorf("adding a member again added %v", added)
	}
	ms, _ := s.Members("news@example.com")
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, m.Address)
	}
	if !slices.Equal(addrs, []string{"a@x.org", "b@x.org", "bob@example.com"}) {
		t.Errorf("members %v", addrs)
	}
	// Another list's members do not mix in.
	s.CreateList(ctx, store.List{Address: "other@example.com"})
	s.AddMembers(ctx, "other@example.com", []string{"z@x.org"})
	if ms, _ := s.Members("news@example.com"); len(ms) != 3 {
		t.Errorf("%d members, want 3", len(ms))
	}
	removed, err := s.RemoveMembers(ctx, "news@example.com", []string{"b@x.org", "nobody@x.org"})
	if err != nil || !slices.Equal(removed, []string{"b@x.org"}) {
		t.Errorf("remove: %v, %v", removed, err)
	}
	if _, err := s.ListMember("news@example.com", "b@x.org"); !errors.Is(err, store.ErrNoMember) {
		t.Errorf("removed member: %v", err)
	}
	if _, err := s.AddMembers(ctx, "nolist@example.com", []string{"a@x.org"}); !errors.Is(err, store.ErrNoList) {
		t.Errorf("add to no list: %v", err)
	}
	res, err := s.ResolveAddress("news-bounces@example.com", resolveOpts)
	if err != nil || res.Bounces != "news@example.com" {
		t.Errorf("bounce address resolves to %+v, %v", res, err)
	}
	if err := s.DeleteList(ctx, "news@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Members("news@example.com"); !errors.Is(err, store.ErrNoList) {
		t.Errorf("members of a deleted list: %v", err)
	}
	if ms, _ := s.Members("other@example.com"); len(ms) != 1 {
		t.Errorf("deleting news touched another list: %d members", len(ms))
	}
}

// Bounces count once a day; the third day disables the member (once);
// a week without bounces starts the count again; adding the member again
// enables it.
func TestListBounces(t *testing.T) {
	s := storetest.Open(t)
	s.CreateList(ctx, store.List{Address: "news@example.com"})
	s.AddMembers(ctx, "news@example.com", []string{"a@x.org"})
	day := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	bounce := func(at time.Time) bool {
		t.Helper()
		d, err := s.RecordBounce(ctx, "news@example.com", "a@x.org", at, 3)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	days := func() []string {
		m, err := s.ListMember("news@example.com", "a@x.org")
		if err != nil {
			t.Fatal(err)
		}
		return m.BounceDays
	}
	bounce(day)
	bounce(day.Add(time.Hour))
	if got := days(); !slices.Equal(got, []string{"2026-11-01"}) {
		t.Errorf("two bounces a day: %v", got)
	}
	bounce(day.Add(24 * time.Hour))
	// Ten days of silence: the count starts again.
	bounce(day.Add(11 * 24 * time.Hour))
	if got := days(); !slices.Equal(got, []string{"2026-11-12"}) {
		t.Errorf("after a quiet week: %v", got)
	}
	if bounce(day.Add(12 * 24 * time.Hour)) {
		t.Error("disabled on the second day")
	}
	if !bounce(day.Add(14 * 24 * time.Hour)) {
		t.Error("not disabled on the third day")
	}
	if bounce(day.Add(15 * 24 * time.Hour)) {
		t.Error("disabled twice")
	}
	m, _ := s.ListMember("news@example.com", "a@x.org")
	if !m.Disabled {
		t.Error("member not disabled")
	}
	if added, _ := s.AddMembers(ctx, "news@example.com", []string{"a@x.org"}); len(added) != 1 {
		t.Error("adding a disabled member did not enable it")
	}
	if m, _ := s.ListMember("news@example.com", "a@x.org"); m.Disabled || len(m.BounceDays) != 0 {
		t.Errorf("enabled again: %+v", m)
	}
	if _, err := s.RecordBounce(ctx, "news@example.com", "gone@x.org", day, 3); !errors.Is(err, store.ErrNoMember) {
		t.Errorf("bounce of a non-member: %v", err)
	}
}
