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
	"os"
	"path/filepath"
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

// DefaultSelector is the selector for a key made at t when the operator
// names none: "petrel" and the year and month, so a yearly or monthly
// rotation gets a fresh name and the old key can stay published meanwhile.
func DefaultSelector(t time.Time) string {
	return fmt.Sprintf("petrel%04d%02d", t.Year(), int(t.Month()))
}

// writeNewFile writes data to dir/name durably and atomically, failing if
// the file exists: a temporary file is written and synced, then hard-linked
// to its name (link, unlike rename, refuses to replace).
func writeNewFile(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-dkim-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), filepath.Join(dir, name)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("key %s already exists; choose another selector", name)
		}
		return err
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
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
