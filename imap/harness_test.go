package imap_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	pimap "petrel/imap"
	"petrel/store"
	"petrel/store/storetest"
	"petrel/tlsconf"
)

// env is a store, an account user@example.org (password "secret") and an
// IMAP server on 127.0.0.1:0.
type env struct {
	st        *store.Store
	srv       *pimap.Server
	addr      string
	acct      *store.Account
	clientTLS *tls.Config
	serverTLS *tls.Config
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t testing.TB, tweak ...func(*pimap.Options)) *env {
	t.Helper()
	st := storetest.Open(t)
	return newEnvWithStore(t, st, storetest.Account(t, st, "user@example.org"), tweak...)
}

func newEnvWithStore(t testing.TB, st *store.Store, acct *store.Account, tweak ...func(*pimap.Options)) *env {
	t.Helper()
	srvTLS, cliTLS, err := tlsconf.ForTest()
	if err != nil {
		t.Fatal(err)
	}
	opts := pimap.Options{Store: st, Logger: quietLogger(), TLSConfig: srvTLS}
	for _, f := range tweak {
		f(&opts)
	}
	srv := pimap.New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &env{st: st, srv: srv, addr: l.Addr().String(), acct: acct, clientTLS: cliTLS, serverTLS: srvTLS}
}

// client dials the server from loopback and logs in.
func (e *env) client(t testing.TB, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{UnilateralDataHandler: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(e.acct.Address, "secret").Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func (e *env) inbox(t testing.TB) store.MailboxID {
	return storetest.Inbox(t, e.st, e.acct).ID
}

// deliver puts a message in INBOX the way SMTP does.
func (e *env) deliver(t testing.TB, msg string) store.UID {
	t.Helper()
	d, err := e.st.Deliver(context.Background(), &store.Delivery{
		Body:    []byte(crlf(msg)),
		Targets: []store.Target{{Account: e.acct.ID}},
	})
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	return d[0].UID
}

// appendMsg APPENDs through IMAP and returns the APPENDUID.
func appendMsg(t testing.TB, c *imapclient.Client, mbox, msg string, opts *imap.AppendOptions) imap.UID {
	t.Helper()
	msg = crlf(msg)
	cmd := c.Append(mbox, int64(len(msg)), opts)
	if _, err := io.WriteString(cmd, msg); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return data.UID
}

// crlf turns \n line ends into \r\n.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func mustSelect(t testing.TB, c *imapclient.Client, name string) *imap.SelectData {
	t.Helper()
	d, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	return d
}

func simpleMsg(subject, body string) string {
	return "From: Alice <alice@example.org>\nTo: user@example.org\nSubject: " + subject +
		"\nDate: Mon, 02 Jan 2006 15:04:05 +0000\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\n\n" + body + "\n"
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exportCert returns the PEM of the env's server certificate, for outside
// clients that must trust it.
func exportCert(t testing.TB, e *env) []byte {
	t.Helper()
	var cert *tls.Certificate
	var err error
	if e.serverTLS.GetCertificate != nil {
		cert, err = e.serverTLS.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
	} else if len(e.serverTLS.Certificates) > 0 {
		cert = &e.serverTLS.Certificates[0]
	}
	if err != nil || cert == nil {
		t.Fatalf("server certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
}
