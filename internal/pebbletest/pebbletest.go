// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, for the
// tests of Petrel's ACME support: a real ACME CA on loopback that validates
// HTTP-01 and TLS-ALPN-01 challenges by connecting to the ports it is given,
// with the test's host names resolved by a dnsmxtest server. Pebble is built
// from the pinned module in testdata/pebble (its own module, so that it stays
// out of Petrel's go.mod); the build is cached by the go command.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"petrel/dnsmx/dnsmxtest"
)

// Options says where Pebble's validation authority connects, and how long
// its certificates last.
type Options struct {
	// Hosts are the names the tests get certificates for; each resolves to
	// IP in Pebble's DNS.
	Hosts []string
	// IP is the (loopback) address Hosts resolve to; "" means 127.0.0.1.
	IP string
	// HTTPPort and TLSPort are where HTTP-01 and TLS-ALPN-01 validations
	// connect (on IP). A port nobody listens on makes that challenge type
	// fail.
	HTTPPort, TLSPort int
	// Validity of the certificates issued, in seconds; 0 means Pebble's
	// default (90 days).
	Validity int
}

// Pebble is a running Pebble.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// CAPEM is the certificate of Pebble's own HTTPS listeners: an ACME client
	// must trust it to reach Directory.
	CAPEM []byte
	// Client trusts CAPEM.
	Client *http.Client
	// Roots trusts the root that signs the certificates Pebble issues.
	Roots *x509.CertPool

	mu  sync.Mutex
	log bytes.Buffer
}

// Log returns what Pebble printed so far.
func (p *Pebble) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *Pebble) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// Start builds and starts Pebble and waits until its directory answers.
// The test is skipped when Pebble cannot be built (no module proxy), except
// under CI (CI=true), where it fails.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	dir := t.TempDir()
	bin := build(t, dir)

	dns := dnsmxtest.Start(t)
	ip := o.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	for _, h := range o.Hosts {
		dns.Add(t, h+". 60 IN A "+ip)
	}

	// Pebble's HTTPS certificate, for 127.0.0.1, trusted by the client.
	cert, key, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	listen, mgmt := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                o.HTTPPort,
		"tlsPort":                 o.TLSPort,
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{
			"default": map[string]any{"description": "petrel tests", "validityPeriod": o.Validity},
		},
	}}
	cfgJSON, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	p := &Pebble{Directory: "https://" + listen + "/dir", CAPEM: cert}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-config", cfgFile, "-dnsserver", dns.Addr)
	// No random sleeps before validating; validations are real (over
	// loopback), not PEBBLE_VA_ALWAYS_VALID.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("pebble: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble's log:\n%s", p.Log())
		}
	})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert)
	p.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.Client.Get(p.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble's directory %s did not answer in 30s: %v\n%s", p.Directory, err, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The root of the certificates it issues, from the management interface.
	resp, err := p.Client.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	root, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble root: %s %v", resp.Status, err)
	}
	p.Roots = x509.NewCertPool()
	if !p.Roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble root: not PEM: %q", root)
	}
	return p
}

// build compiles Pebble from testdata/pebble into dir.
func build(t testing.TB, dir string) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	mod := filepath.Join(filepath.Dir(self), "testdata", "pebble")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building Pebble needs the go command on PATH: %v", err)
	}
	bin := filepath.Join(dir, "pebble")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot build pebble (module github.com/letsencrypt/pebble/v2 in %s): %v\n%s", mod, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort returns a loopback port nobody listens on now: for a challenge
// type that must fail.
func FreePort(t testing.TB) int {
	t.Helper()
	a := freePort(t)
	return mustPort(a)
}

func mustPort(hostport string) int {
	_, p, _ := net.SplitHostPort(hostport)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// Port returns the port of a listener's address.
func Port(a net.Addr) int { return mustPort(a.String()) }

// selfSigned makes the certificate of Pebble's HTTPS listeners.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pebble"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
