package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// This file holds what other backends of the contract (see the package
// doc; store/pgstore) share with this one, so that the rules are kept in
// one place: how passwords are hashed and checked, and ReadRange.

// HashPassword returns the hash stored for a new password: argon2id in
// PHC form, as accounts of this store get; cheap is Options.CheapPasswordHash
// (bcrypt at its lowest cost, for tests only).
func HashPassword(password string, cheap bool) (string, error) {
	s := Store{opts: Options{CheapPasswordHash: cheap}}
	return s.hashPassword(password)
}

// VerifyPassword reports whether password matches hash (argon2id, or bcrypt
// for hashes brought from elsewhere), in time independent of where they
// differ. An empty hash (no such account) is checked against a dummy hash
// and never matches, so that an unknown user costs what a wrong password
// does.
func VerifyPassword(hash, password string) bool {
	if hash == "" {
		checkPassword(dummyHash, password)
		return false
	}
	return checkPassword(hash, password)
}

// ReadRange copies out bytes [off, off+n) of a message (prefix included),
// clipped to its end: what a partial FETCH needs, without the rest.
func (s *Store) ReadRange(mbx MailboxID, uid UID, off, n int64) ([]byte, error) {
	var out []byte
	err := s.ReadRaw(mbx, uid, func(c *Content) error {
		out = c.Slice(off, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read message %d/%d: %w", mbx, uid, err)
	}
	return out, nil
}

// NormalizeFlags sorts and deduplicates flags as they are stored: system
// flags in their canonical case, \Recent and unknown system flags dropped.
func NormalizeFlags(flags []string) []string { return normalizeFlags(flags) }

// ApplyFlags returns cur changed by op with flags (normalized), as
// StoreFlags changes a message's flags.
func ApplyFlags(cur []string, op FlagOp, flags []string) []string { return applyFlags(cur, op, flags) }

// PasswordCache is VerifyPassword with the store's memory of recent right
// passwords (authCache: a few minutes, keyed by an HMAC under a
// per-process key, never the password; an entry is for one hash, so a
// password changed by any node is checked again), and the store's bound
// on the hashes checked at once (hashGate: argon2id takes 19 MiB a
// check). Safe for concurrent use.
type PasswordCache struct {
	c    *authCache
	gate *hashGate
}

// NewPasswordCache returns an empty cache whose checks run at most
// workers at once with at most queue waiting, as Options.HashWorkers and
// Options.HashQueue bound the bbolt store's (0: their defaults).
func NewPasswordCache(workers, queue int) *PasswordCache {
	return &PasswordCache{c: newAuthCache(), gate: newHashGate(workers, queue)}
}

// Check reports whether password matches the stored hash of address ("" for
// no such account, which never matches and costs what a wrong password
// does). A password remembered as right is not hashed again; one that must
// be, when more checks wait than the bound takes, is ErrBusy at once.
func (p *PasswordCache) Check(address, hash, password string) (bool, error) {
	if hash == "" {
		err := p.gate.do(func() { VerifyPassword("", password) })
		return false, err
	}
	id := p.c.id(address, password, hash)
	if p.c.ok(id) {
		return true, nil
	}
	var right bool
	if err := p.gate.do(func() { right = checkPassword(hash, password) }); err != nil {
		return false, err
	}
	if !right {
		return false, nil
	}
	p.c.remember(id)
	return true, nil
}

// EncodeStructure is the stored form of a message's parsed structure
// (ParseStructure of its shared bytes, without prefix), as this store keeps
// it beside each blob.
func EncodeStructure(p *Part) []byte { return encodeStructure(p) }

// DecodeStructure decodes a stored structure (this store's binary form or
// the older JSON), adding shift (the length of the copy's prefix) to its
// offsets as ReadContent's structures have them.
func DecodeStructure(info []byte, shift int64) (*Part, error) {
	p, err := decodeStructure(info, shift)
	if err != nil {
		return nil, fmt.Errorf("structure: %w", err)
	}
	return p, nil
}

// StructureBodyStart reads where the top part's body starts (without
// shift) from the front of a stored structure in the binary form; ok is
// false for another form (decode it whole then).
func StructureBodyStart(info []byte) (start int64, ok bool) { return structureBodyStart(info) }

// OriginOf returns what WithOrigin put in ctx, or nil: for backends that
// carry it into their events.
func OriginOf(ctx context.Context) any { return originOf(ctx) }

// NormalizeList checks and fills in a list's settings (defaults of Post
// and ReplyTo, moderators normalized), as CreateList and UpdateList do.
func NormalizeList(l *List) error { return normalizeList(l) }

// NormalizeMembers normalizes a list's address and member addresses
// (duplicates dropped), as the member methods do.
func NormalizeMembers(list string, addrs []string) (string, []string, error) {
	return normalizeMembers(list, addrs)
}

// ListOfBounceAddress is the list whose bounce address addr would be.
func ListOfBounceAddress(addr string) (string, bool) { return listOfBounceAddress(addr) }

// BounceDay applies one bounce at when to a member's bounce days, as
// RecordBounce does: it returns the new days, whether they changed, and
// whether the member is now disabled (days reached; days 0 never).
func BounceDay(m Member, when time.Time, days int) (out []string, changed, disabled bool) {
	day := when.UTC().Format(time.DateOnly)
	if m.Disabled || slices.Contains(m.BounceDays, day) {
		return m.BounceDays, false, false
	}
	out = m.BounceDays
	if n := len(out); n > 0 {
		last, err := time.Parse(time.DateOnly, out[n-1])
		if err != nil || when.Sub(last) > BounceStale+24*time.Hour {
			out = nil
		}
	}
	out = append(slices.Clone(out), day)
	return out, true, days > 0 && len(out) >= days
}

// Now is the store's clock (tests of this package move it).
func Now() time.Time { return nowFunc() }

// JunkTokenKey is the key of a token in a junk model: its 64-bit FNV-1a
// hash, as every backend keeps it.
func JunkTokenKey(tok string) uint64 { return tokenHash(tok) }

// JunkMoveClass says how moving or copying a message from src to dst
// trains it (into Junk: spam; out of Junk, except into Trash: ham).
func JunkMoveClass(src, dst *Mailbox) JunkClass { return junkMoveClass(src, dst) }

// JunkFlagClass says how a flag change from old to new trains a message
// ($Junk added: spam; $NotJunk added: ham).
func JunkFlagClass(old, new []string) JunkClass { return junkFlagClass(old, new) }

// JunkPruneCut says which tokens a model over its bound drops to keep
// target of them, from hist[n], the number of tokens seen in n messages
// (n capped at 63): every token seen fewer than cut times, and atCut of
// those seen cut times (in key order), as the bbolt store prunes.
func JunkPruneCut(hist *[64]uint64, tokens, target uint64) (cut, atCut uint64) {
	excess := tokens - target
	sum := uint64(0)
	for cut = 1; cut < 63 && sum+hist[cut] < excess; cut++ {
		sum += hist[cut]
	}
	return cut, excess - sum
}
