package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Alias is an address that stands for others: local accounts, other
// aliases, mailing lists, or addresses in other domains (forwards). An
// Address of the form "@example.com" is the domain's catch-all: it gets the
// mail for every address of the domain that matches nothing else.
type Alias struct {
	Address string
	Targets []string
	Created time.Time
}

type aliasRecord struct {
	Address string    `json:"address"`
	Targets []string  `json:"targets"`
	Created time.Time `json:"created"`
}

// MaxAliasDepth bounds alias chains: a resolution that goes through more
// aliases than this, one inside the other, fails with ErrAliasTooDeep.
const MaxAliasDepth = 10

// Errors of aliases and their resolution.
var (
	ErrNoAlias      = errors.New("no such alias")
	ErrAliasLoop    = errors.New("alias loop")
	ErrAliasTooDeep = errors.New("alias chain too long")
	ErrAddressTaken = errors.New("address already in use")
)

// AliasError is a loop or an over-long chain met while resolving, with the
// aliases that led to it.
type AliasError struct {
	Path []string // the aliases expanded, outermost first, and the one met again
	Err  error    // ErrAliasLoop or ErrAliasTooDeep
}

func (e *AliasError) Error() string {
	return fmt.Sprintf("%v: %s", e.Err, strings.Join(e.Path, " → "))
}

func (e *AliasError) Unwrap() error { return e.Err }

// Resolution is where mail for one local address goes.
type Resolution struct {
	// Accounts are the mailboxes it reaches, each once.
	Accounts []Account
	// Lists are the mailing lists it reaches, each once.
	Lists []string
	// Remote are the addresses in other domains it is forwarded to.
	Remote []string
	// Bounces, when not "", is the list whose bounce address
	// (BounceAddress) this is.
	Bounces string
	// Aliased says it went through an alias (or a catch-all).
	Aliased bool
	// Unknown are targets in local domains that match nothing (an account
	// deleted after the alias was made): mail for them goes nowhere.
	Unknown []string
}

// ResolveOptions say how addresses are matched.
type ResolveOptions struct {
	// PlusSeparator makes bob+tag@example.com reach what bob@example.com
	// does when nothing has the address itself; "" turns it off.
	PlusSeparator string
	// IsLocal tells the local domains: a target in another domain is
	// forwarded, one in a local domain that matches nothing is Unknown.
	// nil makes every target that matches nothing remote.
	IsLocal func(domain string) bool
}

// NormalizeAlias checks an alias address, an addr-spec or a catch-all
// "@domain", and returns it lower-cased.
func NormalizeAlias(address string) (string, error) {
	a := strings.TrimSpace(address)
	if strings.HasPrefix(a, "@") {
		if _, err := NormalizeAddress("postmaster" + a); err != nil {
			return "", fmt.Errorf("%q is not a catch-all (want @domain)", address)
		}
		return strings.ToLower(strings.TrimSuffix(a, ".")), nil
	}
	return NormalizeAddress(a)
}

// SetAlias makes address (or a catch-all "@domain") an alias for targets,
// replacing what it stood for before. It refuses an address that is an
// account or a mailing list, a target that is a catch-all, a local target
// that matches nothing, and an alias that would make a loop or a chain
// longer than MaxAliasDepth (an *AliasError). It returns what the alias
// resolves to.
func (s *Store) SetAlias(ctx context.Context, address string, targets []string, o ResolveOptions) (*Resolution, error) {
	addr, err := NormalizeAlias(address)
	if err != nil {
		return nil, err
	}
	tgts, err := AliasTargets(addr, targets)
	if err != nil {
		return nil, err
	}
	var res *Resolution
	err = s.update(ctx, func(t *tx) error {
		if err := addressFreeTx(t.Tx, addr, false); err != nil {
			return err
		}
		rec := aliasRecord{Address: addr, Targets: tgts, Created: nowFunc().UTC().Truncate(time.Second)}
		if old, ok := getAliasTx(t.Tx, addr); ok {
			rec.Created = old.Created
		}
		b, _ := json.Marshal(rec)
		if err := t.Bucket(bAliases).Put([]byte(addr), b); err != nil {
			return err
		}
		var others []Alias
		t.Bucket(bAliases).ForEach(func(k, v []byte) error {
			var other aliasRecord
			if string(k) != addr && json.Unmarshal(v, &other) == nil {
				others = append(others, Alias(other))
			}
			return nil
		})
		var err error
		res, err = CheckAlias(addr, tgts, o, boltSource{t.Tx}, others)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("alias %s: %w", addr, err)
	}
	return res, nil
}

// DeleteAlias removes an alias (or a catch-all).
func (s *Store) DeleteAlias(ctx context.Context, address string) error {
	addr, err := NormalizeAlias(address)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(t *tx) error {
		if _, ok := getAliasTx(t.Tx, addr); !ok {
			return ErrNoAlias
		}
		return t.Bucket(bAliases).Delete([]byte(addr))
	})
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", addr, err)
	}
	return nil
}

// Aliases lists every alias and catch-all, ordered by address.
func (s *Store) Aliases() ([]Alias, error) {
	var out []Alias
	err := s.view(func(t *bolt.Tx) error {
		return t.Bucket(bAliases).ForEach(func(k, v []byte) error {
			var rec aliasRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("alias %q: %w", k, err)
			}
			out = append(out, Alias(rec))
			return nil
		})
	})
	return out, err
}

// ResolveAddress says where mail for a local address goes. An account of
// that address comes first, then a mailing list, a list's bounce address,
// an alias; then, when PlusSeparator is set, the same without the +tag;
// then the domain's catch-all. Aliases are followed to the end, each
// account, list and remote address kept once. Nothing found is
// ErrNoAccount; a loop or an over-long chain is an *AliasError.
func (s *Store) ResolveAddress(address string, o ResolveOptions) (*Resolution, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, ErrNoAccount
	}
	var res *Resolution
	err = s.view(func(t *bolt.Tx) error {
		var err error
		res, err = Resolve(addr, o, boltSource{t})
		return err
	})
	return res, err
}

// AddressSource is what resolving an address reads, from one consistent
// state of a backend: the account, mailing list or alias an address is.
type AddressSource interface {
	LookupAccount(addr string) (Account, bool)
	LookupList(addr string) bool
	LookupAlias(addr string) (Alias, bool)
}

// Resolve is ResolveAddress over any backend's addresses: addr must be
// normalized (NormalizeAddress).
func Resolve(addr string, o ResolveOptions, src AddressSource) (*Resolution, error) {
	r := newResolver(src, o)
	found, err := r.lookup(addr, true)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNoAccount
	}
	return r.res, nil
}

// AliasTargets checks and normalizes an alias's targets, each kept once.
func AliasTargets(addr string, targets []string) ([]string, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("alias %s: no targets", addr)
	}
	var tgts []string
	for _, t := range targets {
		n, err := NormalizeAddress(t)
		if err != nil {
			return nil, fmt.Errorf("alias %s: target %w", addr, err)
		}
		if !slices.Contains(tgts, n) {
			tgts = append(tgts, n)
		}
	}
	return tgts, nil
}

// CheckAlias is SetAlias's check of a new alias addr -> tgts, for every
// backend: src already sees the new alias, others are all the other
// aliases. A loop made by this alias goes through it; so does a chain it
// makes too long, from any alias that leads to it. It returns what the
// alias resolves to.
func CheckAlias(addr string, tgts []string, o ResolveOptions, src AddressSource, others []Alias) (*Resolution, error) {
	r := newResolver(src, o)
	if err := r.expand(addr, tgts); err != nil {
		return nil, err
	}
	if len(r.res.Unknown) > 0 {
		return nil, fmt.Errorf("target %s is no account, alias or list here: %w", r.res.Unknown[0], ErrNoAccount)
	}
	for _, other := range others {
		var ae *AliasError
		if err := newResolver(src, o).expand(other.Address, other.Targets); errors.As(err, &ae) && slices.Contains(ae.Path, addr) {
			return nil, err
		}
	}
	return r.res, nil
}

// boltSource reads addresses in one bbolt transaction.
type boltSource struct{ t *bolt.Tx }

func (b boltSource) LookupAccount(addr string) (Account, bool) {
	rec, err := getAccountTx(b.t, addr)
	if err != nil {
		return Account{}, false
	}
	return Account{ID: rec.ID, Address: rec.Address, Created: rec.Created}, true
}

func (b boltSource) LookupList(addr string) bool {
	_, ok := getListTx(b.t, addr)
	return ok
}

func (b boltSource) LookupAlias(addr string) (Alias, bool) {
	rec, ok := getAliasTx(b.t, addr)
	return Alias(rec), ok
}

// resolver walks aliases in one consistent state.
type resolver struct {
	src   AddressSource
	o     ResolveOptions
	res   *Resolution
	seen  map[string]bool // accounts, lists and remote addresses added
	stack []string        // the aliases being expanded
}

func newResolver(src AddressSource, o ResolveOptions) *resolver {
	return &resolver{src: src, o: o, res: &Resolution{}, seen: map[string]bool{}}
}

// lookup resolves one address; top says it is the address mail came for
// (not an alias's target). found is false when nothing matched it, in a
// local domain or at the top.
func (r *resolver) lookup(addr string, top bool) (found bool, err error) {
	if ok, err := r.exact(addr, top); ok || err != nil {
		return ok, err
	}
	if base := StripPlus(addr, r.o.PlusSeparator); base != addr {
		if ok, err := r.exact(base, false); ok || err != nil {
			return ok, err
		}
	}
	_, domain, _ := strings.Cut(addr, "@")
	if rec, ok := r.src.LookupAlias("@" + domain); ok {
		return true, r.expand(rec.Address, rec.Targets)
	}
	if top {
		return false, nil
	}
	if r.o.IsLocal == nil || !r.o.IsLocal(domain) {
		if !r.seen[addr] {
			r.seen[addr] = true
			r.res.Remote = append(r.res.Remote, addr)
		}
		return true, nil
	}
	if !slices.Contains(r.res.Unknown, addr) {
		r.res.Unknown = append(r.res.Unknown, addr)
	}
	return false, nil
}

// exact matches addr itself: an account, a list, a list's bounce address
// (at the top only), an alias.
func (r *resolver) exact(addr string, top bool) (bool, error) {
	if acct, ok := r.src.LookupAccount(addr); ok {
		if !r.seen[addr] {
			r.seen[addr] = true
			r.res.Accounts = append(r.res.Accounts, acct)
		}
		return true, nil
	}
	if r.src.LookupList(addr) {
		if !r.seen[addr] {
			r.seen[addr] = true
			r.res.Lists = append(r.res.Lists, addr)
		}
		return true, nil
	}
	if list, ok := listOfBounceAddress(addr); ok && top {
		if r.src.LookupList(list) {
			r.res.Bounces = list
			return true, nil
		}
	}
	if rec, ok := r.src.LookupAlias(addr); ok {
		return true, r.expand(rec.Address, rec.Targets)
	}
	return false, nil
}

func (r *resolver) expand(key string, targets []string) error {
	path := append(slices.Clone(r.stack), key)
	if slices.Contains(r.stack, key) {
		return &AliasError{Path: path, Err: ErrAliasLoop}
	}
	if len(r.stack) >= MaxAliasDepth {
		return &AliasError{Path: path, Err: ErrAliasTooDeep}
	}
	r.res.Aliased = true
	r.stack = path
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	for _, t := range targets {
		if _, err := r.lookup(t, false); err != nil {
			return err
		}
	}
	return nil
}

// StripPlus returns addr without its +tag (bob+tag@example.com is
// bob@example.com for separator "+"); addr itself when it has none or sep
// is "".
func StripPlus(addr, sep string) string {
	if sep == "" {
		return addr
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	if i := strings.Index(addr[:at], sep); i > 0 {
		return addr[:i] + addr[at:]
	}
	return addr
}

func getAliasTx(t *bolt.Tx, addr string) (aliasRecord, bool) {
	var rec aliasRecord
	v := t.Bucket(bAliases).Get([]byte(addr))
	if v == nil || json.Unmarshal(v, &rec) != nil {
		return rec, false
	}
	return rec, true
}

// addressFreeTx refuses an address that an account, a list or a list's
// bounce address has (and, unless alias is false, an alias).
func addressFreeTx(t *bolt.Tx, addr string, alias bool) error {
	if t.Bucket(bAccounts).Get([]byte(addr)) != nil {
		return fmt.Errorf("%s is an account: %w", addr, ErrAddressTaken)
	}
	if _, ok := getListTx(t, addr); ok {
		return fmt.Errorf("%s is a mailing list: %w", addr, ErrAddressTaken)
	}
	if list, ok := listOfBounceAddress(addr); ok {
		if _, ok := getListTx(t, list); ok {
			return fmt.Errorf("%s is the bounce address of the list %s: %w", addr, list, ErrAddressTaken)
		}
	}
	if alias {
		if _, ok := getAliasTx(t, addr); ok {
			return fmt.Errorf("%s is an alias: %w", addr, ErrAddressTaken)
		}
	}
	return nil
}
