package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// serveTLS accepts TLS connections with cfg on a loopback port and completes
// each handshake; it returns the address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				c.Read(make([]byte, 1)) // until the client closes
			}()
		}
	}()
	return l.Addr().String()
}

// handshake connects to addr with cfg and returns the server's leaf
// certificate.
func handshake(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func leafOf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block in certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelfSignedMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	const host = "mx.petrel.test"
	cfg, created, err := Load("", "", dir, host)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("first Load on an empty data_dir: created = false, want a new self-signed certificate")
	}
	certFile, keyFile := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := leafOf(t, certPEM)

	// A client that trusts the file and asks for the host name verifies the
	// certificate served: it is the one on disk, and it names the host.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &tls.Config{RootCAs: pool, ServerName: host}
	first, err := handshake(serveTLS(t, cfg), client)
	if err != nil {
		t.Fatalf("handshake with the self-signed certificate for %s: %v", host, err)
	}
	if !bytes.Equal(first.Raw, onDisk.Raw) {
		t.Error("the certificate served is not the one in data_dir/tls/cert.pem")
	}
	if first.Subject.CommonName != host || len(first.DNSNames) != 2 || first.DNSNames[0] != host || first.DNSNames[1] != "localhost" {
		t.Errorf("certificate names CN=%q SAN=%v, want %q and localhost", first.Subject.CommonName, first.DNSNames, host)
	}
	// A client on this machine that connects to localhost, 127.0.0.1 or
	// ::1 (as `serve --dev` tells it to) verifies it too (issue 13, point 9).
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := first.VerifyHostname(name); err != nil {
			t.Errorf("self-signed certificate does not name %s: %v", name, err)
		}
	}
	if time.Until(first.NotAfter) < 9*365*24*time.Hour {
		t.Errorf("certificate expires %v, want about ten years from now", first.NotAfter)
	}

	// A second start keeps it: nothing made, the same certificate served.
	cfg2, created, err := Load("", "", dir, host)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second Load: created = true, want the kept certificate")
	}
	second, err := handshake(serveTLS(t, cfg2), client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(second.Raw, first.Raw) {
		t.Error("second Load serves a different certificate from the first")
	}
	again, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, certPEM) {
		t.Error("second Load rewrote cert.pem")
	}
}

func TestMinimumTLS12(t *testing.T) {
	cfg, _, err := Load("", "", t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	// Set explicitly, not left to the Go default (which GODEBUG=tls10server=1
	// would lower).
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %s, want TLS 1.2", tls.VersionName(cfg.MinVersion))
	}
	addr := serveTLS(t, cfg)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		_, err := handshake(addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: v})
		if err == nil {
			t.Errorf("a client of at most %s completed a handshake; want it refused", tls.VersionName(v))
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Errorf("a %s client: %v", tls.VersionName(v), err)
			continue
		}
		if got := c.ConnectionState().Version; got != v {
			t.Errorf("negotiated %s, want %s", tls.VersionName(got), tls.VersionName(v))
		}
		c.Close()
	}
}

// writePair writes a fresh self-signed pair for host to certFile and
// keyFile and returns the certificate.
func writePair(t *testing.T, certFile, keyFile, host string) *x509.Certificate {
	t.Helper()
	c, k, err := SelfSigned(host)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, c, 0o644); err != nil {
		t.Fatal(err)
	}
	return leafOf(t, c)
}

func TestFilesReloadedWhenChanged(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	old := writePair(t, certFile, keyFile, "old.petrel.test")
	if _, created, err := Load(certFile, keyFile, t.TempDir(), "ignored.petrel.test"); err != nil {
		t.Fatal(err)
	} else if created {
		t.Error("Load with cert and key files made a self-signed certificate")
	}
	// The same files as Load serves them, with a clock the test moves past
	// the check interval instead of sleeping through it.
	f, err := NewFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Now()
	f.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	tick := func() { mu.Lock(); clock = clock.Add(checkInterval + time.Millisecond); mu.Unlock() }
	addr := serveTLS(t, Server(f))
	client := &tls.Config{InsecureSkipVerify: true}
	got, err := handshake(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, old.Raw) {
		t.Fatalf("serving %s, want the configured %s", got.Subject.CommonName, old.Subject.CommonName)
	}

	// A renewal half done (a key that does not match yet) keeps the old pair in
	// use: no handshake fails while files are being replaced.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN EC PRIVATE KEY-----\nbad\n-----END EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Second)
	os.Chtimes(keyFile, future, future)
	tick()
	got, err = handshake(addr, client)
	if err != nil {
		t.Fatalf("handshake while the key file is bad: %v (the old certificate should be kept)", err)
	}
	if !bytes.Equal(got.Raw, old.Raw) {
		t.Fatalf("serving %s while the key is bad, want the old certificate", got.Subject.CommonName)
	}

	// The renewal completes: new handshakes get the new certificate, with no
	// restart.
	renewed := writePair(t, certFile, keyFile, "new.petrel.test")
	future = future.Add(time.Second) // a modification time unlike the bad key's
	os.Chtimes(certFile, future, future)
	os.Chtimes(keyFile, future, future)
	got, err = handshake(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, old.Raw) {
		t.Fatalf("serving %s before the check interval passed, want the old certificate", got.Subject.CommonName)
	}
	tick()
	got, err = handshake(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, renewed.Raw) {
		t.Fatalf("serving %s after the files changed and the interval passed, want the renewed certificate", got.Subject.CommonName)
	}
}

func TestLoadNeedsBothFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair(t, certFile, keyFile, "x.petrel.test")
	for _, tc := range []struct{ cert, key string }{{certFile, ""}, {"", keyFile}, {certFile, filepath.Join(dir, "missing.pem")}} {
		if _, _, err := Load(tc.cert, tc.key, dir, "x.petrel.test"); err == nil {
			t.Errorf("Load(%q, %q): no error", tc.cert, tc.key)
		}
	}
}

// A self-signed certificate kept by an older Petrel names only the host:
// RenewSelfSigned (run by serve --dev) remakes it with localhost,
// 127.0.0.1 and ::1 too, once; a certificate that is not Petrel's own is
// never touched (issue 13, point 9).
func TestRenewSelfSigned(t *testing.T) {
	const host = "vm"
	write := func(dir string, c, k []byte) {
		os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
		os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), c, 0o644)
		os.WriteFile(filepath.Join(dir, "tls", "key.pem"), k, 0o600)
	}
	dir := t.TempDir()
	c, k, err := SelfSigned(host) // as Petrel made it before
	if err != nil {
		t.Fatal(err)
	}
	write(dir, c, k)
	if renewed, err := RenewSelfSigned(dir, host); err != nil || !renewed {
		t.Fatalf("RenewSelfSigned on an old certificate: %v, %v", renewed, err)
	}
	cfg, created, err := Load("", "", dir, host)
	if err != nil || created {
		t.Fatalf("Load after renewal: created %v, %v", created, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	for _, name := range []string{host, "localhost", "127.0.0.1", "::1"} {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		if _, err := handshake(serveTLS(t, cfg), &tls.Config{RootCAs: pool, ServerName: name}); err != nil {
			t.Errorf("renewed certificate, verified for %s: %v", name, err)
		}
	}
	if renewed, err := RenewSelfSigned(dir, host); err != nil || renewed {
		t.Errorf("second RenewSelfSigned: %v, %v; want nothing done", renewed, err)
	}

	// Not Petrel's: an operator's own certificate in data_dir/tls stays.
	other := t.TempDir()
	c, k = foreignCert(t, host)
	write(other, c, k)
	if renewed, err := RenewSelfSigned(other, host); err != nil || renewed {
		t.Errorf("RenewSelfSigned on a foreign certificate: %v, %v", renewed, err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, "tls", "cert.pem")); !bytes.Equal(b, c) {
		t.Error("a foreign certificate was rewritten")
	}
	// Nothing kept yet: nothing to do.
	if renewed, err := RenewSelfSigned(t.TempDir(), host); err != nil || renewed {
		t.Errorf("RenewSelfSigned without a certificate: %v, %v", renewed, err)
	}
}

// foreignCert is a self-signed certificate for name that Petrel did not
// make (another Organization).
func foreignCert(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name, Organization: []string{"Someone else"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{name}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
