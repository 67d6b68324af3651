package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"petrel/internal/durable"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// DefaultACMEDirectory is Let's Encrypt's production ACME directory.
const DefaultACMEDirectory = autocert.DefaultACMEDirectory

// ACMEOptions configure certificates from an ACME CA (RFC 8555).
type ACMEOptions struct {
	// Hostname is the one name the certificate is for.
	Hostname string
	// Directory is the CA's directory URL; "" means Let's Encrypt.
	Directory string
	// Email is the account's contact address; "" registers none.
	Email string
	// DataDir holds the ACME account key and certificates (DataDir/acme)
	// and the self-signed certificate served until the first one is issued
	// (DataDir/tls).
	DataDir string
	// RootCAs verify the CA's HTTPS server; nil means the system's roots,
	// or those of CAFile (tls.acme_ca), a PEM file, when it is set.
	RootCAs *x509.CertPool
	CAFile  string
	// Logger gets issuance, renewal and failures; nil discards them.
	Logger *slog.Logger
	// RetryAfter is the first wait after a failed issuance, doubled after
	// each failure up to 4h; 0 means 10 minutes.
	RetryAfter time.Duration
}

// ACME gets and renews a certificate for one host name with
// golang.org/x/crypto/acme/autocert. The CA's challenges are answered on the
// HTTP listener (HTTP-01, through HTTPHandler; the CA connects to port 80)
// and on the TLS listeners (TLS-ALPN-01, acme-tls/1; the CA connects to
// port 443). Until the first certificate is issued, and whenever the CA
// cannot be reached before that, the self-signed certificate of
// DataDir/tls is served, so that mail keeps flowing over TLS. Every
// handshake gets the host name's certificate, whatever name the client asks
// for (or none, as many SMTP clients do).
type ACME struct {
	m        *autocert.Manager
	hostname string
	fallback certSource
	log      *slog.Logger
	retry    time.Duration
	issued   atomic.Bool
}

// NewACME prepares the manager and the self-signed fallback; Run gets the
// certificate.
func NewACME(o ACMEOptions) (*ACME, error) {
	host := strings.ToLower(strings.TrimSuffix(o.Hostname, "."))
	if !strings.Contains(host, ".") || net.ParseIP(host) != nil {
		return nil, fmt.Errorf("tls.acme: hostname %q is not a public DNS name a CA can issue for", o.Hostname)
	}
	fallback, _, err := keptSelfSigned(o.DataDir, host)
	if err != nil {
		return nil, err
	}
	dir := o.Directory
	if dir == "" {
		dir = DefaultACMEDirectory
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := &acme.Client{DirectoryURL: dir, UserAgent: "petrel"}
	if o.RootCAs == nil && o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.acme_ca: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls.acme_ca: no PEM certificate in %s", o.CAFile)
		}
	}
	if o.RootCAs != nil {
		client.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		}}
	}
	a := &ACME{hostname: host, fallback: fallback, log: log, retry: o.RetryAfter}
	if a.retry <= 0 {
		a.retry = 10 * time.Minute
	}
	a.m = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      loggingCache{DirCache: autocert.DirCache(filepath.Join(o.DataDir, "acme")), host: host, log: log},
		HostPolicy: a.hostPolicy,
		Client:     client,
		Email:      o.Email,
	}
	return a, nil
}

// hostPolicy allows the host name only. An HTTP-01 request's Host may carry
// a port.
func (a *ACME) hostPolicy(_ context.Context, host string) error {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !strings.EqualFold(strings.TrimSuffix(host, "."), a.hostname) {
		return fmt.Errorf("tls.acme: no certificate for %q, only for %s", host, a.hostname)
	}
	return nil
}

// hello is what the manager is asked for on behalf of every client: the
// host name, ECDSA (the key type of the self-signed certificate too).
func (a *ACME) hello() *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:       a.hostname,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
}

// Config returns the TLS settings of every listener: those of Server, with
// the ACME certificate once issued, and acme-tls/1 offered to the CA's
// TLS-ALPN-01 validation only (offering it to every client would make
// handshakes fail for clients that ask for other protocols, such as h2).
func (a *ACME) Config() *tls.Config {
	challenge := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{acme.ALPNProto},
		GetCertificate: a.m.GetCertificate,
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			if len(h.SupportedProtos) == 1 && h.SupportedProtos[0] == acme.ALPNProto {
				return challenge, nil
			}
			return nil, nil
		},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if a.issued.Load() {
				return a.m.GetCertificate(a.hello())
			}
			return a.fallback.get()
		},
	}
}

// HTTPHandler answers the CA's HTTP-01 requests under
// /.well-known/acme-challenge/ and hands every other request to h.
func (a *ACME) HTTPHandler(h http.Handler) http.Handler {
	return a.m.HTTPHandler(h)
}

// Run gets the certificate (from the cache in DataDir/acme, or from the CA),
// retrying after failures, until it has one or ctx ends. Renewals then run
// inside the manager (a third of the lifetime before expiry, at most 30 days
// before), without blocking a handshake.
func (a *ACME) Run(ctx context.Context) {
	wait := a.retry
	for {
		cert, err := a.obtain(ctx)
		if err == nil {
			a.issued.Store(true)
			a.log.Info("ACME certificate in use", "hostname", a.hostname, "issuer", cert.Leaf.Issuer.String(), "not_after", cert.Leaf.NotAfter)
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("ACME: no certificate yet; serving the self-signed one meanwhile", "hostname", a.hostname,
			"err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 4*time.Hour)
	}
}

// obtain asks the manager for the certificate, giving up when ctx ends (the
// manager's own attempt runs on for up to its 5 minutes).
func (a *ACME) obtain(ctx context.Context) (*tls.Certificate, error) {
	type result struct {
		cert *tls.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := a.m.GetCertificate(a.hello())
		done <- result{c, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		if r.err == nil && r.cert.Leaf == nil {
			leaf, err := x509.ParseCertificate(r.cert.Certificate[0])
			if err != nil {
				return nil, fmt.Errorf("tls.acme: %w", err)
			}
			r.cert.Leaf = leaf
		}
		return r.cert, r.err
	}
}

// put stores data under name as DirCache.Put does, but durably
// (internal/durable: the file and its folder fsync'd), so that a crash
// never leaves a truncated certificate or account key.
func (c loggingCache) put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := string(c.DirCache)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, filepath.Clean("/"+name)), data, 0o600)
}

// loggingCache logs each certificate the manager stores for the host: the
// first one and every renewal.
type loggingCache struct {
	autocert.DirCache
	host string
	log  *slog.Logger
}

func (c loggingCache) Put(ctx context.Context, name string, data []byte) error {
	err := c.put(ctx, name, data)
	if name != c.host {
		return err
	}
	if err != nil {
		c.log.Error("ACME: cannot store the certificate", "hostname", c.host, "err", err)
		return err
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if leaf, err := x509.ParseCertificate(b.Bytes); err == nil {
			c.log.Info("ACME certificate issued", "hostname", c.host, "issuer", leaf.Issuer.String(), "not_after", leaf.NotAfter)
		}
		break
	}
	return nil
}
