package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters: OWASP's recommendation (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashPassword returns a PHC-format argon2id hash of password.
func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// hashPassword hashes a new password as the store's options say.
func (s *Store) hashPassword(password string) (string, error) {
	if s.opts.CheapPasswordHash {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return "", fmt.Errorf("hash password: %w", err)
		}
		return string(h), nil
	}
	return hashPassword(password)
}

// checkPassword reports whether password matches hash (argon2id, or bcrypt
// for hashes brought from elsewhere), in time independent of where they differ.
func checkPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || m > 1<<21 || t > 16 || p == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the account does not exist, so that an
// unknown user costs as much time as a wrong password.
var dummyHash = func() string {
	h, _ := hashPassword("petrel-timing-equaliser")
	return h
}()

// authCache remembers, for a few minutes, that a password was right, keyed
// by an HMAC under a per-process random key (never the password itself), so
// that a client that logs in every minute does not pay argon2id each time.
// It is dropped for an account whenever its password changes.
type authCache struct {
	mu      sync.Mutex
	key     []byte
	entries map[string]time.Time // address ++ HMAC(password) -> expiry
}

const authCacheTTL = 5 * time.Minute

func newAuthCache() *authCache {
	k := make([]byte, 32)
	rand.Read(k)
	return &authCache{key: k, entries: make(map[string]time.Time)}
}

func (c *authCache) id(address, password, hash string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(password))
	return address + "\x00" + string(m.Sum(nil))
}

func (c *authCache) ok(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, found := c.entries[id]
	if found && time.Now().Before(exp) {
		return true
	}
	delete(c.entries, id)
	return false
}

func (c *authCache) remember(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) > 100000 {
		c.entries = make(map[string]time.Time)
	}
	c.entries[id] = time.Now().Add(authCacheTTL)
}
