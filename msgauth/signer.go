package msgauth

import (
	"bytes"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"crypto/x509"

	"github.com/emersion/go-msgauth/dkim"
)

// Signer signs outgoing mail with the DKIM keys of a key directory. It is
// immutable after LoadSigner and safe for concurrent use.
type Signer struct {
	keys map[string][]signingKey // by domain, sorted by selector
}

type signingKey struct {
	domain, selector string
	key              crypto.Signer
	record           string // zone-file line
}

// LoadSigner loads every key file in dir (see GenerateKey). A missing dir is
// an empty Signer, so a host without keys sends unsigned mail; an unreadable
// or malformed key file is an error, so a broken key stops start-up instead
// of silently sending unsigned mail.
func LoadSigner(dir string) (*Signer, error) {
	s := &Signer{keys: map[string][]signingKey{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("msgauth: reading DKIM key directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, keyFileSuffix) || !strings.Contains(name, keyFileMarker) {
			continue
		}
		k, err := loadKey(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		s.keys[k.domain] = append(s.keys[k.domain], k)
	}
	for _, ks := range s.keys {
		slices.SortFunc(ks, func(a, b signingKey) int { return strings.Compare(a.selector, b.selector) })
	}
	return s, nil
}

func loadKey(path string) (signingKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return signingKey{}, fmt.Errorf("msgauth: reading DKIM key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return signingKey{}, fmt.Errorf("msgauth: DKIM key %s: no %s PEM block", path, pemType)
	}
	d, ok := normalizeDomain(block.Headers[pemHdrDomain])
	if !ok {
		return signingKey{}, fmt.Errorf("msgauth: DKIM key %s: bad %s header", path, pemHdrDomain)
	}
	sel, ok := normalizeSelector(block.Headers[pemHdrSelector])
	if !ok {
		return signingKey{}, fmt.Errorf("msgauth: DKIM key %s: bad %s header", path, pemHdrSelector)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return signingKey{}, fmt.Errorf("msgauth: DKIM key %s: %w", path, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return signingKey{}, fmt.Errorf("msgauth: DKIM key %s: unsupported key type %T", path, parsed)
	}
	rec, err := txtRecord(key.Public())
	if err != nil {
		return signingKey{}, fmt.Errorf("msgauth: DKIM key %s: %w", path, err)
	}
	return signingKey{domain: d, selector: sel, key: key, record: zoneLine(sel, d, rec)}, nil
}

// signedFields are the fields signed when present (RFC 6376 section 5.4.1).
// Those in overSigned are also listed once more than they occur, which
// signs their absence: nobody can add a second From or Subject later
// without breaking the signature (RFC 6376 section 8.15).
var signedFields = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-ID", "Content-Description",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Subscribe", "List-Post", "List-Owner", "List-Archive",
}

var overSigned = map[string]bool{"from": true, "reply-to": true, "subject": true, "date": true, "to": true, "cc": true}

// Sign returns msg with one DKIM-Signature field per key of domain (an
// Ed25519 and an RSA key give the dual signature RFC 8463 recommends),
// relaxed/relaxed canonicalization. With no key for domain it returns msg
// unchanged and no error. msg must have CRLF line endings and a From field.
func (s *Signer) Sign(domain string, msg []byte) ([]byte, error) {
	d, ok := normalizeDomain(domain)
	if !ok || s == nil || len(s.keys[d]) == 0 {
		return msg, nil
	}
	headerKeys := fieldsToSign(msg)
	if !slices.Contains(headerKeys, "from") {
		return nil, fmt.Errorf("msgauth: DKIM signing for %s: message has no From field", d)
	}
	var sigs []string
	for _, k := range s.keys[d] {
		signer, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 d,
			Selector:               k.selector,
			Signer:                 k.key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             headerKeys,
		})
		if err != nil {
			return nil, fmt.Errorf("msgauth: DKIM signing for %s: %w", d, err)
		}
		if _, err := signer.Write(msg); err != nil {
			signer.Close()
			return nil, fmt.Errorf("msgauth: DKIM signing for %s: %w", d, err)
		}
		if err := signer.Close(); err != nil {
			return nil, fmt.Errorf("msgauth: DKIM signing for %s: %w", d, err)
		}
		sigs = append(sigs, signer.Signature())
	}
	var b bytes.Buffer
	for _, sig := range sigs {
		b.WriteString(sig)
	}
	b.Write(msg)
	return b.Bytes(), nil
}

// fieldsToSign lists, in lower case, each signedFields name once per
// occurrence in msg, plus once more for the over-signed ones present.
func fieldsToSign(msg []byte) []string {
	count := map[string]int{}
	fields := scanHeader(msg)
	for _, f := range fields {
		count[strings.ToLower(f.name)]++
	}
	var keys []string
	for _, name := range signedFields {
		n := strings.ToLower(name)
		c := count[n]
		if c > 0 && overSigned[n] {
			c++
		}
		for range c {
			keys = append(keys, n)
		}
	}
	return keys
}

// DNSRecord returns the TXT record line(s) to publish for domain's keys,
// one zone-file line per key, and whether there is any key.
func (s *Signer) DNSRecord(domain string) (string, bool) {
	d, ok := normalizeDomain(domain)
	if !ok || s == nil || len(s.keys[d]) == 0 {
		return "", false
	}
	lines := make([]string, len(s.keys[d]))
	for i, k := range s.keys[d] {
		lines[i] = k.record
	}
	return strings.Join(lines, "\n"), true
}

// KeyRecord is one key's DNS record in parts: the owner name is
// Selector + "._domainkey." + the domain, the TXT value is TXT (unquoted);
// Algorithm is "rsa" or "ed25519".
type KeyRecord struct {
	Selector  string
	TXT       string
	Algorithm string
}

// KeyRecords returns the records of domain's keys, sorted by selector (the
// form petrel/dnsguide wants: dnsguide.DKIMRecord(r.Selector, r.TXT)).
func (s *Signer) KeyRecords(domain string) []KeyRecord {
	d, ok := normalizeDomain(domain)
	if !ok || s == nil {
		return nil
	}
	var out []KeyRecord
	for _, k := range s.keys[d] {
		txt, err := txtRecord(k.key.Public())
		if err != nil {
			continue // loadKey already refused unsupported keys
		}
		out = append(out, KeyRecord{Selector: k.selector, TXT: txt, Algorithm: keyAlgorithm(k.key)})
	}
	return out
}

// Domains returns the domains the Signer has keys for, sorted.
func (s *Signer) Domains() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.keys))
	for d := range s.keys {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}
