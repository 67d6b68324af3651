package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"petrel/internal/pebbletest"
)

// acmeHost is the name the tests get certificates for; pebbletest's DNS
// resolves it to 127.0.0.1.
const acmeHost = "mx.petrel.test"

func newLog() (*slog.Logger, *lockedBuffer) {
	b := &lockedBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// lockedBuffer is a log sink safe for concurrent use.
type lockedBuffer struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data.String()
}

// serveOn serves TLS with cfg on ln and returns the address.
func serveOn(t *testing.T, ln net.Listener, cfg *tls.Config) string {
	t.Helper()
	tl := tls.NewListener(ln, cfg)
	t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Read(make([]byte, 1))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func poolOf(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemBytes)
	return p
}

// waitIssued waits until a client that trusts only Pebble's root and asks
// for acmeHost verifies the certificate served at addr, and returns it.
func waitIssued(t *testing.T, addr string, roots *x509.CertPool, d time.Duration, p *pebbletest.Pebble) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		leaf, err := handshake(addr, &tls.Config{RootCAs: roots, ServerName: acmeHost})
		if err == nil {
			return leaf
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no certificate from the ACME CA after %v: %v\npebble:\n%s", d, last, p.Log())
	return nil
}

// TestACMETLSALPN01 gets a certificate from Pebble with the TLS-ALPN-01
// challenge only (nothing listens on Pebble's HTTP port): until then the
// self-signed certificate is served; then clients with, without and with
// another name get the CA's certificate, and clients offering other ALPN
// protocols still connect. A restart serves the cached certificate without
// asking the CA.
func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{Hosts: []string{acmeHost}, TLSPort: pebbletest.Port(ln.Addr()), HTTPPort: pebbletest.FreePort(t)})
	dataDir := t.TempDir()
	log, logs := newLog()
	a, err := NewACME(ACMEOptions{Hostname: acmeHost, Directory: p.Directory, Email: "postmaster@petrel.test", DataDir: dataDir, RootCAs: poolOf(p.CAPEM), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := a.Config()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %s, want TLS 1.2", tls.VersionName(cfg.MinVersion))
	}
	// Count the CA's TLS-ALPN-01 validation handshakes.
	var validations atomic.Int32
	inner := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(h.SupportedProtos, "acme-tls/1") {
			validations.Add(1)
		}
		return inner(h)
	}
	addr := serveOn(t, ln, cfg)

	// Before Run: the self-signed certificate of data_dir/tls.
	selfPEM, err := os.ReadFile(filepath.Join(dataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := handshake(addr, &tls.Config{RootCAs: poolOf(selfPEM), ServerName: acmeHost})
	if err != nil {
		t.Fatalf("before issuance, the self-signed certificate should be served: %v", err)
	}
	if got.Subject.Organization == nil || got.Subject.Organization[0] != "Petrel self-signed" {
		t.Errorf("before issuance: serving %v", got.Subject)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	leaf := waitIssued(t, addr, p.Roots, 60*time.Second, p)
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeHost {
		t.Errorf("issued for %v, want [%s]", leaf.DNSNames, acmeHost)
	}
	if validations.Load() == 0 {
		t.Error("issued without a TLS-ALPN-01 validation handshake")
	}

	// Every client gets the host's certificate: no SNI (most SMTP
	// clients), an IP address, another name; and ALPN other than acme-tls/1.
	for _, c := range []*tls.Config{
		{InsecureSkipVerify: true},
		{InsecureSkipVerify: true, ServerName: "other.petrel.test"},
		{InsecureSkipVerify: true, ServerName: acmeHost, NextProtos: []string{"h2", "http/1.1"}},
		{InsecureSkipVerify: true, ServerName: acmeHost, NextProtos: []string{"imap"}},
	} {
		got, err := handshake(addr, c)
		if err != nil {
			t.Errorf("client %q %v: %v", c.ServerName, c.NextProtos, err)
			continue
		}
		if !bytes.Equal(got.Raw, leaf.Raw) {
			t.Errorf("client %q %v got %v, want the ACME certificate", c.ServerName, c.NextProtos, got.Subject)
		}
	}
	if !strings.Contains(logs.String(), "ACME certificate issued") || !strings.Contains(logs.String(), "ACME certificate in use") {
		t.Errorf("log lacks the issuance:\n%s", logs)
	}
	cancel()

	// A restart takes it from data_dir/acme: with a CA that cannot be reached
	// it is still served.
	ln2 := listen(t)
	a2, err := NewACME(ACMEOptions{Hostname: acmeHost, Directory: "https://127.0.0.1:1/dir", DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	addr2 := serveOn(t, ln2, a2.Config())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go a2.Run(ctx2)
	again := waitIssued(t, addr2, p.Roots, 10*time.Second, p)
	if !bytes.Equal(again.Raw, leaf.Raw) {
		t.Error("after a restart, a different certificate is served, want the cached one")
	}
}

// TestACMEHTTP01AndRenewal gets a certificate with HTTP-01 only (nothing
// listens on Pebble's TLS port), through the HTTP handler that wraps the web
// handler, which still answers everything else; the certificates last 15 s,
// so the manager renews within the test, and new handshakes get the new one
// without a restart.
func TestACMEHTTP01AndRenewal(t *testing.T) {
	t.Parallel()
	httpLn := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{
		Hosts: []string{acmeHost}, HTTPPort: pebbletest.Port(httpLn.Addr()), TLSPort: pebbletest.FreePort(t), Validity: 15,
	})
	log, logs := newLog()
	a, err := NewACME(ACMEOptions{Hostname: acmeHost, Directory: p.Directory, DataDir: t.TempDir(), RootCAs: poolOf(p.CAPEM), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "petrel web "+r.URL.Path) })
	var validations atomic.Int32
	acmeHandler := a.HTTPHandler(web)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			validations.Add(1)
		}
		acmeHandler.ServeHTTP(w, r)
	})}
	go srv.Serve(httpLn)
	t.Cleanup(func() { srv.Close() })
	addr := serveOn(t, listen(t), a.Config())

	resp, err := http.Get("http://" + httpLn.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "petrel web /healthz" {
		t.Errorf("the web handler behind the ACME handler answered %q", body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	first := waitIssued(t, addr, p.Roots, 60*time.Second, p)
	if validations.Load() == 0 {
		t.Error("issued without an HTTP-01 validation request")
	}
	if life := first.NotAfter.Sub(first.NotBefore); life > 20*time.Second {
		t.Fatalf("certificate lifetime %v, want Pebble's 15s", life)
	}

	// Renewal: a third of the lifetime before expiry, about 10 s in.
	deadline := time.Now().Add(40 * time.Second)
	for {
		got, err := handshake(addr, &tls.Config{RootCAs: p.Roots, ServerName: acmeHost})
		if err == nil && !bytes.Equal(got.Raw, first.Raw) {
			if !got.NotAfter.After(first.NotAfter) {
				t.Errorf("renewed certificate expires %v, not after the first's %v", got.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not renewed 40s after issuance (last error %v)\npebble:\n%s", err, p.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "ACME certificate issued"); n < 2 {
		t.Errorf("want the issuance and the renewal logged, found %d:\n%s", n, logs)
	}
}

// TestACMERefusesNames: a host name a CA cannot issue for is refused at
// start, and the HTTP-01 handler answers for the host name only.
func TestACMERefusesNames(t *testing.T) {
	for _, h := range []string{"localhost", "127.0.0.1", ""} {
		if _, err := NewACME(ACMEOptions{Hostname: h, DataDir: t.TempDir()}); err == nil {
			t.Errorf("NewACME(hostname %q): no error", h)
		}
	}
	a, err := NewACME(ACMEOptions{Hostname: acmeHost, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for host, ok := range map[string]bool{acmeHost: true, acmeHost + ":80": true, "MX.Petrel.Test.": true, "evil.petrel.test": false, "evil.petrel.test:80": false} {
		if err := a.hostPolicy(context.Background(), host); (err == nil) != ok {
			t.Errorf("hostPolicy(%q) = %v, want allowed %v", host, err, ok)
		}
	}
}
