package msgauth_test

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"petrel/msgauth"
)

const (
	authserv = "mx.petrel.test"
	goodIP   = "192.0.2.10"   // allowed by the SPF records below
	mxIP     = "192.0.2.20"   // the MX of spf-mx.example
	badIP    = "198.51.100.7" // allowed by nobody
)

// keyDir holds the DKIM keys made once for the whole test binary (RSA key
// generation is too slow to repeat in every test under -race).
var keyDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgauth-keys-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, k := range []struct{ domain, sel, algo string }{
		{"example.com", "ed", "ed25519"},
		{"example.com", "rsa", "rsa"},
		{"example.net", "ed", "ed25519"},
	} {
		if _, err := msgauth.GenerateKey(dir, k.domain, k.sel, k.algo); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	keyDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// zone is the test world. Domains under .example have no public suffix
// entry, so their organizational domain is the last two labels.
var zone = []string{
	`spf-pass.example. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`_dmarc.spf-pass.example. TXT "v=DMARC1; p=reject"`,
	`spf-soft.example. TXT "v=spf1 ip4:192.0.2.10 ~all"`,
	`spf-neutral.example. TXT "v=spf1 ?all"`,
	`no-spf.example. A 192.0.2.99`,
	`spf-perm.example. TXT "v=spf1 bogus:x ip4:192.0.2.10 -all"`,
	`spf-mx.example. TXT "v=spf1 mx -all"`,
	`spf-mx.example. MX 10 mail.spf-mx.example.`,
	`mail.spf-mx.example. A 192.0.2.20`,
	`spf-include.example. TXT "v=spf1 include:spf-pass.example -all"`,
	`loop.example. TXT "v=spf1 include:loop.example -all"`,
	`crepes.fr. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`_dmarc.crepes.fr. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@crepes.fr"`,
	`example.com. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`mail.example.com. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`_dmarc.example.com. TXT "v=DMARC1; p=reject"`,
	`example.net. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`_dmarc.strict.example.net. TXT "v=DMARC1; p=reject; aspf=s; adkim=s"`,
	`bounces.strict.example.net. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`strict.example.net. TXT "v=spf1 ip4:192.0.2.10 -all"`,
	`quarantine.example. TXT "v=spf1 -all"`,
	`_dmarc.quarantine.example. TXT "v=DMARC1; p=quarantine"`,
	`pnone.example. TXT "v=spf1 -all"`,
	`_dmarc.pnone.example. TXT "v=DMARC1; p=none"`,
	`pct0.example. TXT "v=spf1 -all"`,
	`_dmarc.pct0.example. TXT "v=DMARC1; p=reject; pct=0"`,
	`pct0q.example. TXT "v=spf1 -all"`,
	`_dmarc.pct0q.example. TXT "v=DMARC1; p=quarantine; pct=0"`,
	`pct50.example. TXT "v=spf1 -all"`,
	`_dmarc.pct50.example. TXT "v=DMARC1; p=reject; pct=50"`,
	`org.example. TXT "v=spf1 -all"`,
	`sub.org.example. TXT "v=spf1 -all"`,
	`_dmarc.org.example. TXT "v=DMARC1; p=none; sp=reject"`,
	`other.example. A 192.0.2.99`,
	`spf6.example. TXT "v=spf1 ip6:2001:db8::/32 -all"`,
	`badrec.example. TXT "v=spf1 -all"`,
	`_dmarc.badrec.example. TXT "v=DMARC1; p=discard"`,
}

type env struct {
	dns    *testDNS
	signer *msgauth.Signer
	v      *msgauth.Verifier
}

// newEnv starts a DNS server with the test zone and the DKIM keys of
// keyDir published, and a Verifier using it through NewNetResolver.
func newEnv(t testing.TB, opts ...func(*msgauth.Options)) *env {
	t.Helper()
	z := startDNS(t)
	z.Add(t, zone...)
	z.ServFail("spf-servfail.example")
	z.ServFail("_dmarc.dmarc-servfail.example")
	z.ServFail("broken._domainkey.example.com")
	signer, err := msgauth.LoadSigner(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range signer.Domains() {
		rec, ok := signer.DNSRecord(d)
		if !ok {
			t.Fatalf("no DNS record for %s", d)
		}
		z.Add(t, strings.Split(rec, "\n")...)
	}
	o := msgauth.Options{
		Hostname: authserv,
		Resolver: msgauth.NewNetResolver(z.Addr),
		Logger:   slog.New(slog.DiscardHandler),
		Timeout:  5 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	return &env{dns: z, signer: signer, v: msgauth.NewVerifier(o)}
}

// message builds a CRLF message from header lines and a body.
func message(body string, header ...string) []byte {
	var b strings.Builder
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

func simpleMessage(from string) []byte {
	return message("Hello,\nthis is a test.\n",
		"From: "+from,
		"To: bob@petrel.test",
		"Subject: test",
		"Date: Wed, 25 Nov 2026 06:00:00 +0000",
		"Message-ID: <1@test>")
}

// signed signs simpleMessage(from) with the keys of domain.
func (e *env) signed(t testing.TB, domain, from string) []byte {
	t.Helper()
	m, err := e.signer.Sign(domain, simpleMessage(from))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ip(s string) net.IP { return net.ParseIP(s) }
