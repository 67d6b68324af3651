package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"petrel/internal/durable"
	"strings"
	"time"
)

// Key files live in one directory, one file per key, named
// "<selector>._domainkey.<domain>.pem" so an operator sees at a glance which
// DNS name each belongs to. The file is a PKCS#8 "PRIVATE KEY" PEM block
// whose Domain and Selector headers are authoritative (the name is only a
// convenience), written 0600 and never overwritten.
const (
	keyFileSuffix  = ".pem"
	keyFileMarker  = "._domainkey."
	pemType        = "PRIVATE KEY"
	pemHdrDomain   = "Domain"
	pemHdrSelector = "Selector"
	rsaKeyBits     = 2048 // RFC 8301 section 3.2: at least 1024, 2048 recommended
	txtChunk       = 255  // longest character-string in a TXT record (RFC 1035 section 3.3)
)

// GenerateKey makes a new DKIM key for domain and selector, stores it in dir
// (created 0700 if missing; the file is 0600 and an existing one is never
// replaced), and returns the TXT record to publish as one zone-file line:
//
//	sel._domainkey.example.com. IN TXT "v=DKIM1; k=ed25519; p=…"
//
// algo is "ed25519" (RFC 8463) or "rsa" (2048 bits). An RSA record is longer
// than one 255-byte string, so it is split into several quoted strings on the
// same line, which DNS servers join back (RFC 6376 section 3.6.2.2).
func GenerateKey(dir, domain, selector, algo string) (dnsRecord string, err error) {
	d, ok := normalizeDomain(domain)
	if !ok {
		return "", fmt.Errorf("msgauth: generating DKIM key: invalid domain %q", domain)
	}
	sel, ok := normalizeSelector(selector)
	if !ok {
		return "", fmt.Errorf("msgauth: generating DKIM key: invalid selector %q", selector)
	}
	var key crypto.Signer
	switch algo {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, rsaKeyBits)
	default:
		return "", fmt.Errorf("msgauth: generating DKIM key: unknown algorithm %q (want ed25519 or rsa)", algo)
	}
	if err != nil {
		return "", fmt.Errorf("msgauth: generating %s DKIM key: %w", algo, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("msgauth: encoding DKIM key: %w", err)
	}
	block := pem.EncodeToMemory(&pem.Block{
		Type:    pemType,
		Headers: map[string]string{pemHdrDomain: d, pemHdrSelector: sel},
		Bytes:   der,
	})
	if err := writeNewFile(dir, sel+keyFileMarker+d+keyFileSuffix, block); err != nil {
		return "", fmt.Errorf("msgauth: storing DKIM key for %s: %w", d, err)
	}
	rec, err := txtRecord(key.Public())
	if err != nil {
		return "", err
	}
	return zoneLine(sel, d, rec), nil
}

// Algorithms are the DKIM key algorithms Petrel makes, and signs every
// message with one key of each: RFC 8463 section 3 asks that an Ed25519
// signature be accompanied by an RSA one, which every receiver verifies.
var Algorithms = [...]string{"rsa", "ed25519"}

// DefaultSelector is the selector for an algo key made at t when the
// operator names none: "petrel", the year and month, and the algorithm
// ("petrel202611-rsa", "petrel202611-ed25519"), so the two keys of a domain
// never share a name, and a rotation gets a fresh one while the old key
// stays published.
func DefaultSelector(t time.Time, algo string) string {
	return fmt.Sprintf("petrel%04d%02d-%s", t.Year(), int(t.Month()), algo)
}

// NewKey makes an algo key for domain under the default selector of t, or,
// when a key of that name exists (a second key the same month), under the
// first free one of selector-2, selector-3…; it returns the selector and
// the record as GenerateKey does.
func NewKey(dir, domain, algo string, t time.Time) (selector, dnsRecord string, err error) {
	d, ok := normalizeDomain(domain)
	if !ok {
		return "", "", fmt.Errorf("msgauth: generating DKIM key: invalid domain %q", domain)
	}
	base := DefaultSelector(t, algo)
	for i := 1; i <= 100; i++ {
		sel := base
		if i > 1 {
			sel = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Stat(filepath.Join(dir, sel+keyFileMarker+d+keyFileSuffix)); err == nil {
			continue
		}
		rec, err := GenerateKey(dir, d, sel, algo)
		return sel, rec, err
	}
	return "", "", fmt.Errorf("msgauth: generating DKIM key for %s: selectors %s to %s-100 are all taken; give one with --selector", d, base, base)
}

// EnsureKeys makes, in dir, the keys the domains lack: one RSA-2048 and
// one Ed25519 key for each domain that can have DNS records (a name of two
// labels or more, not "localhost"), under default selectors of t. Keys
// already there, of any selector, count. It returns the zone-file lines of
// the keys it made, to publish.
func EnsureKeys(dir string, domains []string, t time.Time) ([]string, error) {
	s, err := LoadSigner(dir)
	if err != nil {
		return nil, err
	}
	var made []string
	for _, domain := range domains {
		d, ok := normalizeDomain(domain)
		if !ok {
			continue
		}
		have := map[string]bool{}
		for _, k := range s.keys[d] {
			have[keyAlgorithm(k.key)] = true
		}
		for _, algo := range Algorithms {
			if have[algo] {
				continue
			}
			_, rec, err := NewKey(dir, d, algo, t)
			if err != nil {
				return made, err
			}
			made = append(made, rec)
		}
	}
	return made, nil
}

// keyAlgorithm is "rsa" or "ed25519", the k= tag of key's record.
func keyAlgorithm(key crypto.Signer) string {
	switch key.Public().(type) {
	case ed25519.PublicKey:
		return "ed25519"
	case *rsa.PublicKey:
		return "rsa"
	}
	return ""
}

// writeNewFile writes data to dir/name durably and atomically, failing if
// the file exists (durable.Create).
func writeNewFile(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := durable.Create(filepath.Join(dir, name), data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("key %s already exists; choose another selector", name)
		}
		return err
	}
	return nil
}

// txtRecord is the DKIM key record for pub (RFC 6376 section 3.6.1): RSA
// keys as SubjectPublicKeyInfo, Ed25519 keys as the raw 32 bytes (RFC 8463
// section 4.2).
func txtRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("msgauth: encoding RSA public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	default:
		return "", fmt.Errorf("msgauth: unsupported DKIM key type %T", pub)
	}
}

// zoneLine formats the TXT record as a zone-file line, the text split into
// quoted strings of at most 255 bytes.
func zoneLine(selector, domain, text string) string {
	var parts []string
	for len(text) > txtChunk {
		parts = append(parts, `"`+text[:txtChunk]+`"`)
		text = text[txtChunk:]
	}
	parts = append(parts, `"`+text+`"`)
	return selector + keyFileMarker + domain + ". IN TXT " + strings.Join(parts, " ")
}

// normalizeSelector checks a selector: dot-separated labels of letters,
// digits, hyphens and underscores (RFC 6376 section 3.1), lower-cased. This
// also keeps path separators out of key file names.
func normalizeSelector(s string) (string, bool) {
	s = strings.ToLower(s)
	if s == "" || len(s) > 63 {
		return "", false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || l[0] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return s, true
}
