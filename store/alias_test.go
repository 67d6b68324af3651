package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"petrel/store"
	"petrel/store/storetest"
)

var resolveOpts = store.ResolveOptions{PlusSeparator: "+", IsLocal: func(d string) bool { return d == "example.com" }}

func resolve(t *testing.T, s *store.Store, addr string) (accounts, lists, remote []string) {
	t.Helper()
	res, err := s.ResolveAddress(addr, resolveOpts)
	if err != nil {
		t.Fatalf("resolve %s: %v", addr, err)
	}
	for _, a := range res.Accounts {
		accounts = append(accounts, a.Address)
	}
	return accounts, res.Lists, res.Remote
}

func setAlias(t *testing.T, s *store.Store, addr string, targets ...string) {
	t.Helper()
	if _, err := s.SetAlias(ctx, addr, targets, resolveOpts); err != nil {
		t.Fatalf("alias %s: %v", addr, err)
	}
}

// Aliases chain into aliases, reach accounts and remote addresses, each
// once; plus-addressing works on aliases as on accounts; the catch-all
// gets what nothing else matches.
func TestAliasResolution(t *testing.T) {
	s := storetest.Open(t)
	storetest.Account(t, s, "bob@example.com")
	storetest.Account(t, s, "alice@example.com")
	setAlias(t, s, "devs@example.com", "alice@example.com", "bob+devs@example.com", "carol@remote.org")
	setAlias(t, s, "Team@Example.com", "bob@example.com", "devs@example.com", "carol@remote.org")
	setAlias(t, s, "all@example.com", "team@example.com", "devs@example.com")

	for _, tc := range []struct {
		addr             string
		accounts, remote []string
	}{
		{"team@example.com", []string{"bob@example.com", "alice@example.com"}, []string{"carol@remote.org"}},
		{"all@example.com", []string{"bob@example.com", "alice@example.com"}, []string{"carol@remote.org"}},
		{"team+news@example.com", []string{"bob@example.com", "alice@example.com"}, []string{"carol@remote.org"}},
		{"BOB+x@example.com", []string{"bob@example.com"}, nil},
		{"bob@example.com", []string{"bob@example.com"}, nil},
	} {
		acc, _, rem := resolve(t, s, tc.addr)
		if !slices.Equal(acc, tc.accounts) || !slices.Equal(rem, tc.remote) {
			t.Errorf("%s: accounts %v remote %v, want %v %v", tc.addr, acc, rem, tc.accounts, tc.remote)
		}
	}
	if _, err := s.ResolveAddress("nobody@example.com", resolveOpts); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("unknown address: %v, want ErrNoAccount", err)
	}
	if res, _ := s.ResolveAddress("bob@example.com", resolveOpts); res.Aliased {
		t.Error("an account is reported as aliased")
	}

	// The catch-all takes unknown addresses (with or without a tag), not
	// the ones something else has.
	setAlias(t, s, "@Example.com", "alice@example.com")
	for addr, want := range map[string]string{"nobody@example.com": "alice@example.com", "x+y@example.com": "alice@example.com", "bob@example.com": "bob@example.com"} {
		acc, _, _ := resolve(t, s, addr)
		if !slices.Equal(acc, []string{want}) {
			t.Errorf("%s with a catch-all: %v, want %s", addr, acc, want)
		}
	}
	if _, err := s.ResolveAddress("x@other.org", resolveOpts); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("the catch-all of example.com took other.org: %v", err)
	}

	all, err := s.Aliases()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range all {
		names = append(names, a.Address)
	}
	if want := []string{"@example.com", "all@example.com", "devs@example.com", "team@example.com"}; !slices.Equal(names, want) {
		t.Errorf("Aliases() = %v, want %v", names, want)
	}
	if err := s.DeleteAlias(ctx, "@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlias(ctx, "@example.com"); !errors.Is(err, store.ErrNoAlias) {
		t.Errorf("second delete: %v, want ErrNoAlias", err)
	}
	if _, err := s.ResolveAddress("nobody@example.com", resolveOpts); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("after the catch-all's removal: %v", err)
	}
}

// Loops and over-long chains are refused when the alias that would make
// them is set, naming the path; nothing is stored then.
func TestAliasCyclesRefused(t *testing.T) {
	s := storetest.Open(t)
	storetest.Account(t, s, "bob@example.com")
	setAlias(t, s, "c@example.com", "bob@example.com")
	setAlias(t, s, "b@example.com", "c@example.com", "bob@example.com")
	setAlias(t, s, "a@example.com", "b@example.com")

	for _, tc := range []struct {
		addr    string
		targets []string
		path    string
	}{
		{"c@example.com", []string{"a@example.com"}, "c@example.com → a@example.com → b@example.com → c@example.com"},
		{"self@example.com", []string{"self+x@example.com"}, "self@example.com → self@example.com"},
		{"@example.com", []string{"nobody@example.com"}, "@example.com → @example.com"},
	} {
		_, err := s.SetAlias(ctx, tc.addr, tc.targets, resolveOpts)
		var ae *store.AliasError
		if !errors.As(err, &ae) || !errors.Is(err, store.ErrAliasLoop) {
			t.Errorf("alias %s → %v: %v, want an alias loop", tc.addr, tc.targets, err)
			continue
		}
		if got := strings.Join(ae.Path, " → "); got != tc.path {
			t.Errorf("loop path %q, want %q", got, tc.path)
		}
	}
	// Refused aliases are not stored: c still resolves to bob.
	if acc, _, _ := resolve(t, s, "a@example.com"); !slices.Equal(acc, []string{"bob@example.com"}) {
		t.Errorf("a resolves to %v after the refused loop", acc)
	}
	if _, err := s.ResolveAddress("self@example.com", resolveOpts); !errors.Is(err, store.ErrNoAccount) {
		t.Errorf("the refused self-alias exists: %v", err)
	}

	// A chain of MaxAliasDepth aliases resolves; one more is refused,
	// also when it is added at the far end of an existing chain.
	prev := "bob@example.com"
	for i := store.MaxAliasDepth; i >= 1; i-- {
		name := "d" + strings.Repeat("x", i) + "@example.com"
		setAlias(t, s, name, prev)
		prev = name
	}
	if acc, _, _ := resolve(t, s, prev); !slices.Equal(acc, []string{"bob@example.com"}) {
		t.Errorf("chain of %d: %v", store.MaxAliasDepth, acc)
	}
	if _, err := s.SetAlias(ctx, "top@example.com", []string{prev}, resolveOpts); !errors.Is(err, store.ErrAliasTooDeep) {
		t.Errorf("chain of %d: %v, want ErrAliasTooDeep", store.MaxAliasDepth+1, err)
	}
	setAlias(t, s, "e@example.com", "bob@example.com")
	last := "d" + strings.Repeat("x", store.MaxAliasDepth) + "@example.com"
	if _, err := s.SetAlias(ctx, last, []string{"e@example.com"}, resolveOpts); !errors.Is(err, store.ErrAliasTooDeep) {
		t.Errorf("lengthening the chain at its end: %v, want ErrAliasTooDeep", err)
	}
}

func TestAliasRefusals(t *testing.T) {
	s := storetest.Open(t)
	storetest.Account(t, s, "bob@example.com")
	if _, err := s.CreateList(ctx, store.List{Address: "news@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr    string
		targets []string
		err     error
	}{
		{"bob@example.com", []string{"carol@remote.org"}, store.ErrAddressTaken},
		{"news@example.com", []string{"bob@example.com"}, store.ErrAddressTaken},
		{"news-bounces@example.com", []string{"bob@example.com"}, store.ErrAddressTaken},
		{"x@example.com", []string{"nobody@example.com"}, store.ErrNoAccount},
	} {
		if _, err := s.SetAlias(ctx, tc.addr, tc.targets, resolveOpts); !errors.Is(err, tc.err) {
			t.Errorf("alias %s → %v: %v, want %v", tc.addr, tc.targets, err, tc.err)
		}
	}
	for _, bad := range [][]string{nil, {"not an address"}, {"@example.com"}} {
		if _, err := s.SetAlias(ctx, "x@example.com", bad, resolveOpts); err == nil {
			t.Errorf("alias to %q accepted", bad)
		}
	}
	if _, err := s.SetAlias(ctx, "@", []string{"bob@example.com"}, resolveOpts); err == nil {
		t.Error("catch-all without a domain accepted")
	}
	// An alias can lead to a list; an account cannot take an alias's name.
	setAlias(t, s, "info@example.com", "news@example.com", "bob@example.com")
	acc, lists, _ := resolve(t, s, "info@example.com")
	if !slices.Equal(acc, []string{"bob@example.com"}) || !slices.Equal(lists, []string{"news@example.com"}) {
		t.Errorf("info: accounts %v lists %v", acc, lists)
	}
	if _, err := s.CreateAccount(ctx, "info@example.com", "pw"); !errors.Is(err, store.ErrAddressTaken) {
		t.Errorf("account over an alias: %v, want ErrAddressTaken", err)
	}
}
