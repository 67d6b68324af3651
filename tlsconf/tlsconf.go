// Package tlsconf owns Petrel's TLS configuration: one *tls.Config for
// every listener, TLS 1.2 at least, from configured files (reloaded when
// they change), from an ACME CA (ACME: issued and renewed by autocert,
// cached in data_dir/acme), or from a self-signed certificate made on first
// start and kept in data_dir/tls (also ACME's stand-in until its first
// certificate).
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"petrel/internal/durable"
	"sync"
	"time"
)

// SelfSigned makes a self-signed ECDSA P-256 certificate for hostnames,
// valid for ten years.
func SelfSigned(hostnames ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	cn := "petrel"
	if len(hostnames) > 0 {
		cn = hostnames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{selfSignedOrg}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hostnames {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

// ForTest returns a server config with a fresh self-signed certificate for
// "localhost" and 127.0.0.1, and a client config that trusts it.
func ForTest() (server, client *tls.Config, err error) {
	c, k, err := SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c)
	return Server(&staticCert{cert: &cert}), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}, nil
}

type certSource interface {
	get() (*tls.Certificate, error)
}

type staticCert struct{ cert *tls.Certificate }

func (s *staticCert) get() (*tls.Certificate, error) { return s.cert, nil }

// Server returns the TLS settings every Petrel listener uses: TLS 1.2 at
// least, the Go defaults' modern cipher suites, and the certificate from src.
func Server(src certSource) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return src.get()
		},
	}
}

// Files serves a certificate from PEM files, reloading them when their
// modification time changes (checked at most every few seconds), so a
// renewed certificate is used without a restart.
type Files struct {
	CertFile, KeyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
	now     func() time.Time // nil: time.Now; tests move it past the check interval
}

// checkInterval is how long a loaded certificate is served before its files'
// modification times are looked at again.
const checkInterval = 2 * time.Second

// NewFiles loads the certificate now, so that a bad file is reported at start.
func NewFiles(certFile, keyFile string) (*Files, error) {
	f := &Files{CertFile: certFile, KeyFile: keyFile}
	if _, err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Files) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
	}
	return &cert, nil
}

func (f *Files) get() (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.now != nil {
		now = f.now()
	}
	if f.cert != nil && now.Sub(f.checked) < checkInterval {
		return f.cert, nil
	}
	f.checked = now
	mt := latestModTime(f.CertFile, f.KeyFile)
	if f.cert == nil || !mt.Equal(f.modTime) {
		cert, err := f.load()
		if err != nil {
			if f.cert != nil {
				return f.cert, nil // keep serving the old one while files are being replaced
			}
			return nil, err
		}
		f.cert, f.modTime = cert, mt
	}
	return f.cert, nil
}

func latestModTime(paths ...string) time.Time {
	var t time.Time
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(t) {
			t = st.ModTime()
		}
	}
	return t
}

// Load returns the server TLS config: from certFile and keyFile when both
// are set, else from a self-signed certificate kept in dataDir (made on
// first start, for hostname, localhost, 127.0.0.1 and ::1). created says whether one was just made.
func Load(certFile, keyFile, dataDir, hostname string) (cfg *tls.Config, created bool, err error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, false, fmt.Errorf("tls: set both cert and key, or neither for a self-signed certificate")
		}
		f, err := NewFiles(certFile, keyFile)
		if err != nil {
			return nil, false, err
		}
		return Server(f), false, nil
	}
	f, created, err := keptSelfSigned(dataDir, hostname)
	if err != nil {
		return nil, false, err
	}
	return Server(f), created, nil
}

// selfSignedNames are the names the kept self-signed certificate is made
// for: the hostname, and the loopback names a client on this machine uses
// (`serve --dev` tells clients to connect to localhost).
func selfSignedNames(hostname string) []string {
	names := []string{hostname}
	for _, n := range []string{"localhost", "127.0.0.1", "::1"} {
		if n != hostname {
			names = append(names, n)
		}
	}
	return names
}

// selfSignedOrg is the Organization of the certificates SelfSigned makes,
// by which RenewSelfSigned knows one of its own.
const selfSignedOrg = "Petrel self-signed"

// RenewSelfSigned remakes the kept self-signed certificate of dataDir when
// it lacks a name a new one gets (one made by an older Petrel, before it
// named localhost, 127.0.0.1 and ::1), and says whether it did. A missing
// file, or a certificate that is not Petrel's own self-signed one, is left
// alone. `serve --dev` calls it, where clients connect to localhost.
func RenewSelfSigned(dataDir, hostname string) (bool, error) {
	cp, kp := filepath.Join(dataDir, "tls", "cert.pem"), filepath.Join(dataDir, "tls", "key.pem")
	b, err := os.ReadFile(cp)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return false, nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != selfSignedOrg {
		return false, nil
	}
	names := selfSignedNames(hostname)
	complete := true
	for _, n := range names {
		complete = complete && cert.VerifyHostname(n) == nil
	}
	if complete {
		return false, nil
	}
	c, k, err := SelfSigned(names...)
	if err != nil {
		return false, err
	}
	if err := durable.WriteFile(kp, k, 0o600); err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	if err := durable.WriteFile(cp, c, 0o644); err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	return true, nil
}

// keptSelfSigned serves the self-signed certificate of dataDir/tls, made
// for hostname if it is not there yet (created).
func keptSelfSigned(dataDir, hostname string) (f *Files, created bool, err error) {
	cp, kp := filepath.Join(dataDir, "tls", "cert.pem"), filepath.Join(dataDir, "tls", "key.pem")
	if _, err := os.Stat(cp); os.IsNotExist(err) {
		c, k, err := SelfSigned(selfSignedNames(hostname)...)
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(filepath.Dir(cp), 0o700); err != nil {
			return nil, false, fmt.Errorf("tls: %w", err)
		}
		if err := durable.WriteFile(kp, k, 0o600); err != nil {
			return nil, false, fmt.Errorf("tls: %w", err)
		}
		if err := durable.WriteFile(cp, c, 0o644); err != nil {
			return nil, false, fmt.Errorf("tls: %w", err)
		}
		created = true
	}
	f, err = NewFiles(cp, kp)
	if err != nil {
		return nil, false, err
	}
	return f, created, nil
}
