package main

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"petrel/dnsmx/dnsmxtest"
)

// `petrel dns DOMAIN` prints the records to publish, in zone-file syntax;
// `petrel dns check DOMAIN` finds each of them once they are published,
// and says what is missing, with the fix, while they are not.
func TestDNSCommands(t *testing.T) {
	dns := dnsmxtest.Start(t, "mx.example.com. 300 IN A 192.0.2.25")
	in := newInstanceWith(t, instanceOpts{hostname: "mx.example.com", domain: "example.com",
		extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	if _, errOut, code := in.petrel("", "dkim", "keygen", "example.com", "--selector", "s1"); code != 0 {
		t.Fatalf("dkim keygen: %s", errOut)
	}
	zone, errOut, code := in.petrel("", "dns", "example.com")
	if code != 0 {
		t.Fatalf("petrel dns: %d %s", code, errOut)
	}
	for _, want := range []string{"\tMX\t", "v=spf1", "s1._domainkey.example.com.", "v=DKIM1", "_dmarc.example.com.", "v=DMARC1",
		"_mta-sts.example.com.", "_smtp._tls.example.com.", "_imaps._tcp.example.com.", "_submissions._tcp.example.com.", "autoconfig.example.com."} {
		if !strings.Contains(zone, want) {
			t.Errorf("petrel dns lacks %q:\n%s", want, zone)
		}
	}

	// Nothing published yet (but the host's A record): every other record
	// is reported with its fix, and the command fails.
	out, errOut, code := in.petrel("", "dns", "check", "example.com")
	if code == 0 || !strings.Contains(errOut, "need attention") {
		t.Errorf("dns check with nothing published: exit %d, %q", code, errOut)
	}
	if !strings.Contains(out, "MX") || !strings.Contains(out, "fix: ") {
		t.Errorf("dns check says no fix:\n%s", out)
	}

	// Publish what `petrel dns` printed: every line checks out.
	sc := bufio.NewScanner(strings.NewReader(zone))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		if i := strings.Index(line, " ;"); i >= 0 {
			line = line[:i]
		}
		dns.Add(t, line)
	}
	out, errOut, code = in.petrel("", "dns", "check", "example.com")
	if code != 0 {
		t.Fatalf("dns check after publishing: exit %d %s\n%s", code, errOut, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "ok") && !strings.HasPrefix(l, "OK") {
			t.Errorf("not ok: %s", l)
		}
	}
}

// `petrel dns` and `dns check` warn, with the fix, on a single-label
// hostname, on addresses the internet cannot reach (private, unique
// local, loopback) and on a domain that is not local (issue 13, point 8);
// a sound set-up gets no warning.
func TestDNSWarnings(t *testing.T) {
	dns := dnsmxtest.Start(t, "mx. 300 IN A 10.1.2.3", "mx. 300 IN AAAA fd00::25", "mx. 300 IN A 127.0.1.1",
		"mx.example.com. 300 IN A 192.0.2.25")
	in := newInstanceWith(t, instanceOpts{hostname: "mx", domain: "example.com",
		extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	zone, errOut, code := in.petrel("", "dns", "elsewhere.org")
	if code != 0 {
		t.Fatalf("petrel dns: %d %s", code, errOut)
	}
	for _, want := range []string{
		`; WARNING: hostname "mx" is a single label`,
		"; WARNING: elsewhere.org is not one of Petrel's domains",
		"; WARNING: 10.1.2.3 is a private address (RFC 1918)",
		"; WARNING: fd00::25 is a unique local address (RFC 4193)",
		"; WARNING: 127.0.1.1 is a loopback address",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("petrel dns does not warn %q:\n%s", want, zone)
		}
	}
	out, _, _ := in.petrel("", "dns", "check", "elsewhere.org")
	if !strings.Contains(out, "warning elsewhere.org is not one of Petrel's domains") {
		t.Errorf("dns check does not warn:\n%s", out)
	}

	good := newInstanceWith(t, instanceOpts{hostname: "mx.example.com", domain: "example.com",
		extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	// Before any start, no DKIM key: said, not silently left out.
	if zone, _, _ := good.petrel("", "dns", "example.com"); !strings.Contains(zone, "; WARNING: example.com has no DKIM key yet") {
		t.Errorf("petrel dns does not say the domain has no DKIM key yet:\n%s", zone)
	}
	good.petrel("", "dkim", "keygen", "example.com")
	if zone, _, _ := good.petrel("", "dns", "example.com"); strings.Contains(zone, "WARNING") {
		t.Errorf("warnings for a sound set-up:\n%s", zone)
	}
}

// The first start makes an RSA and an Ed25519 DKIM key for the domain;
// `petrel dns` prints both records, `dns check` says which one is
// published, and `dkim keygen --algo rsa` with the default selector makes
// another key instead of failing with "already exists" (issue 13, point 6).
func TestDKIMKeysOnFirstStart(t *testing.T) {
	dns := dnsmxtest.Start(t, "mx.example.com. 300 IN A 192.0.2.25")
	in := newInstanceWith(t, instanceOpts{hostname: "mx.example.com", domain: "example.com",
		extra: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr)})
	in.start()
	zone, errOut, code := in.petrel("", "dns", "example.com")
	if code != 0 {
		t.Fatalf("petrel dns: %d %s", code, errOut)
	}
	var rsaLine string
	algos := map[string]int{}
	for _, l := range strings.Split(zone, "\n") {
		if strings.HasPrefix(l, ";") || !strings.Contains(l, "._domainkey.example.com.") {
			continue
		}
		switch {
		case strings.Contains(l, "k=rsa"):
			algos["rsa"]++
			rsaLine = l
		case strings.Contains(l, "k=ed25519"):
			algos["ed25519"]++
		}
	}
	if algos["rsa"] != 1 || algos["ed25519"] != 1 {
		t.Fatalf("petrel dns after the first start: DKIM records %v, want one rsa and one ed25519:\n%s", algos, zone)
	}
	dns.Add(t, rsaLine)
	out, _, _ := in.petrel("", "dns", "check", "example.com")
	var okRSA, missingEd bool
	for _, l := range strings.Split(out, "\n") {
		okRSA = okRSA || strings.HasPrefix(l, "ok") && strings.Contains(l, "-rsa._domainkey.example.com. the rsa key is published")
		missingEd = missingEd || strings.HasPrefix(l, "missing") && strings.Contains(l, "-ed25519._domainkey.example.com. the ed25519 key is not published")
	}
	if !okRSA || !missingEd {
		t.Errorf("dns check does not say the rsa key is published and the ed25519 one is not:\n%s", out)
	}
	out, errOut, code = in.petrel("", "dkim", "keygen", "example.com", "--algo", "rsa")
	if code != 0 || !strings.Contains(out, "-rsa-2") {
		t.Errorf("dkim keygen --algo rsa after the first start: exit %d, %q %q", code, out, errOut)
	}
	in.signal(syscall.SIGTERM)
	in.start()
	if keys, _ := filepath.Glob(filepath.Join(in.dir, "data", "dkim", "*.pem")); len(keys) != 3 {
		t.Errorf("after a restart: %d key files, want the 3 made (%v)", len(keys), keys)
	}
}
