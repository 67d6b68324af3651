package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of Reverse. A caller refuses ErrBadHash and ErrExpired with 550:
// the address is forged or too old to be trusted.
var (
	ErrNotSRS    = errors.New("not an SRS address")
	ErrMalformed = errors.New("malformed SRS address")
	ErrBadHash   = errors.New("SRS address with a wrong hash (forged?)")
	ErrExpired   = errors.New("SRS address too old")
)

// DefaultMaxAge is how long (in days) a rewritten address stays valid, as
// in libsrs2.
const DefaultMaxAge = 21

// hashLen is the number of base32 characters of the hash kept (30 bits).
const hashLen = 6

const tsAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// Rewriter rewrites and reverses addresses with one key. It is safe for
// concurrent use.
type Rewriter struct {
	key []byte
	// MaxAge is how many days an address stays valid; 0 means
	// DefaultMaxAge.
	MaxAge int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Rewriter that signs with key (at least 16 bytes).
func New(key []byte) (*Rewriter, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("srs: key of %d bytes, want at least 16", len(key))
	}
	return &Rewriter{key: append([]byte(nil), key...)}, nil
}

// IsSRS reports whether addr (or its local part) has the form of an SRS
// address: SRS0 or SRS1 followed by '=', '+' or '-'.
func IsSRS(addr string) bool {
	_, ok := tag(addr)
	return ok
}

// tag returns 0 or 1 for an SRS0 or SRS1 local part.
func tag(local string) (int, bool) {
	if len(local) < 5 || !strings.EqualFold(local[:3], "SRS") || !isSep(local[4]) {
		return 0, false
	}
	switch local[3] {
	case '0':
		return 0, true
	case '1':
		return 1, true
	}
	return 0, false
}

func isSep(c byte) bool { return c == '=' || c == '+' || c == '-' }

// Forward returns the envelope sender to use when forwarding mail from
// sender through domain (a domain of ours). The null sender stays null,
// and a sender already in domain is not rewritten.
func (r *Rewriter) Forward(sender, domain string) (string, error) {
	if sender == "" {
		return "", nil
	}
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || at == len(sender)-1 {
		return "", fmt.Errorf("srs: forward %q: want local@domain", sender)
	}
	local, host := sender[:at], sender[at+1:]
	if strings.IndexByte(host, '=') >= 0 {
		// No domain has one, and Reverse could not tell host from user.
		return "", fmt.Errorf("srs: forward %q: '=' in the domain", sender)
	}
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" || strings.ContainsAny(domain, "@=") {
		return "", fmt.Errorf("srs: forward through %q: not a domain", domain)
	}
	if strings.EqualFold(host, domain) {
		return sender, nil
	}
	switch t, ok := tag(local); {
	case ok && t == 0 && len(local) > 5: // something after "SRS0=", as Reverse wants
		// SRS0 of another forwarder: point back to it (SRS1), keeping
		// its part, separator included, as it is.
		srsuser := local[4:]
		return "SRS1=" + r.hash(host, srsuser) + "=" + host + "=" + srsuser + "@" + domain, nil
	case ok && t == 1:
		// SRS1 already: keep its first forwarder, sign anew.
		parts := strings.SplitN(local[5:], "=", 3)
		if len(parts) == 3 && parts[1] != "" && len(parts[2]) >= 2 { // as Reverse wants
			return "SRS1=" + r.hash(parts[1], parts[2]) + "=" + parts[1] + "=" + parts[2] + "@" + domain, nil
		}
	}
	ts := timestamp(r.now())
	return "SRS0=" + r.hash(ts, host, local) + "=" + ts + "=" + host + "=" + local + "@" + domain, nil
}

// Reverse decodes an SRS address of ours: SRS0 to the original sender,
// SRS1 to the SRS0 address of the first forwarder. It verifies the hash
// and, for SRS0, the age.
func (r *Rewriter) Reverse(addr string) (string, error) {
	local := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local = addr[:at]
	}
	t, ok := tag(local)
	if !ok {
		return "", fmt.Errorf("srs: %q: %w", addr, ErrNotSRS)
	}
	if t == 1 {
		parts := strings.SplitN(local[5:], "=", 3)
		if len(parts) != 3 || parts[1] == "" || len(parts[2]) < 2 {
			return "", fmt.Errorf("srs: %q: %w", addr, ErrMalformed)
		}
		if !r.check(parts[0], parts[1], parts[2]) {
			return "", fmt.Errorf("srs: %q: %w", addr, ErrBadHash)
		}
		return "SRS0" + parts[2] + "@" + parts[1], nil
	}
	parts := strings.SplitN(local[5:], "=", 4)
	if len(parts) != 4 || len(parts[1]) != 2 || parts[2] == "" || parts[3] == "" {
		return "", fmt.Errorf("srs: %q: %w", addr, ErrMalformed)
	}
	hash, ts, host, user := parts[0], parts[1], parts[2], parts[3]
	if !r.check(hash, ts, host, user) {
		return "", fmt.Errorf("srs: %q: %w", addr, ErrBadHash)
	}
	day, ok := decodeTimestamp(ts)
	if !ok {
		return "", fmt.Errorf("srs: %q: %w", addr, ErrMalformed)
	}
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	// Days wrap at 1024; a stamp from the future is as bad as an old one.
	if age := (today(r.now()) - day + 1024) % 1024; age > maxAge {
		return "", fmt.Errorf("srs: %q (%d days old, at most %d): %w", addr, age, maxAge, ErrExpired)
	}
	return user + "@" + host, nil
}

func (r *Rewriter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// hash is the truncated HMAC of the lower-cased fields, NUL-separated.
func (r *Rewriter) hash(fields ...string) string {
	m := hmac.New(sha256.New, r.key)
	for i, f := range fields {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(strings.ToLower(f)))
	}
	s := base32.StdEncoding.EncodeToString(m.Sum(nil))
	return strings.ToLower(s[:hashLen])
}

func (r *Rewriter) check(hash string, fields ...string) bool {
	return hmac.Equal([]byte(strings.ToLower(hash)), []byte(r.hash(fields...)))
}

func today(t time.Time) int { return int(t.Unix()/86400) % 1024 }

func timestamp(t time.Time) string {
	d := today(t)
	return string([]byte{tsAlphabet[d>>5], tsAlphabet[d&31]})
}

func decodeTimestamp(ts string) (int, bool) {
	hi := strings.IndexByte(tsAlphabet, upper(ts[0]))
	lo := strings.IndexByte(tsAlphabet, upper(ts[1]))
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return hi<<5 | lo, true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
