package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/internal/pebbletest"
)

// TestACMEServe runs `petrel serve` with [tls] acme = true against Pebble:
// once with only the https listener reachable by the CA (TLS-ALPN-01), once
// with only the http listener (HTTP-01, through the web handler, which keeps
// answering /healthz). Submission's STARTTLS then presents a certificate that
// a client trusting only Pebble's root verifies for the hostname.
func TestACMEServe(t *testing.T) {
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			t.Parallel()
			const host = "mx.acme.test"
			httpsAddr := freePort(t)
			in := newInstanceWith(t, instanceOpts{hostname: host, domain: "acme.test", extra: fmt.Sprintf("https = %q\n", httpsAddr)})
			o := pebbletest.Options{Hosts: []string{host}, HTTPPort: pebbletest.FreePort(t), TLSPort: pebbletest.FreePort(t)}
			if challenge == "tls-alpn-01" {
				o.IP, o.TLSPort = hostPortOf(t, httpsAddr)
			} else {
				o.IP, o.HTTPPort = hostPortOf(t, in.httpAddr)
			}
			p := pebbletest.Start(t, o)
			caFile := filepath.Join(in.dir, "pebble-ca.pem")
			if err := os.WriteFile(caFile, p.CAPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(in.config, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(f, "[tls]\nacme = true\nacme_directory = %q\nacme_email = \"postmaster@acme.test\"\nacme_ca = %q\n", p.Directory, caFile)
			f.Close()
			in.start()

			deadline := time.Now().Add(60 * time.Second)
			for {
				err := startTLSVerified(in.subAddr, &tls.Config{RootCAs: p.Roots, ServerName: host})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("submission has no certificate from the CA after 60s: %v\npetrel:\n%s\npebble:\n%s", err, in.stderr, p.Log())
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !strings.Contains(in.stderr.String(), "ACME certificate in use") {
				t.Errorf("petrel's log lacks the issuance:\n%s", in.stderr)
			}
			// The HTTPS listener has it too, and HTTP still serves the web endpoints.
			c, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: p.Roots, ServerName: host})
			if err != nil {
				t.Errorf("https: %v", err)
			} else {
				c.Close()
			}
			resp, err := http.Get("http://" + in.httpAddr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz behind the ACME handler: %s %q", resp.Status, body)
			}
		})
	}
}

func hostPortOf(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// startTLSVerified says whether STARTTLS at addr completes with cfg.
func startTLSVerified(addr string, cfg *tls.Config) error {
	c, err := smtp.DialStartTLS(addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// The handshake happens at the first command after STARTTLS.
	if err := c.Noop(); err != nil {
		return err
	}
	if st, ok := c.TLSConnectionState(); !ok || !st.HandshakeComplete {
		return fmt.Errorf("no TLS after STARTTLS")
	}
	return c.Quit()
}
