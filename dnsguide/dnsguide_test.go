package dnsguide_test

import (
	"context"
	"flag"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"petrel/dnsguide"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const (
	domain   = "example.com"
	hostname = "mx.example.com"
	// A 2048-bit RSA key is longer than one TXT string (255 bytes).
	dkimP = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvq8H6m0yq2Q0b9x4mI1Jq7dE3bWZc5i0m4u8s3pQ9wYk2rXnB1e6a7fG0hT2jK9lL4oP5qR8sT1uV3wX6yZ0aB2cD4eF7gH9iJ1kL3mN5oP7qR9sT2uV4wX6yZ8aB0cD2eF4gH6iJ8kL0mN2oP4qR6sT8uV0wX2yZ4aB6cD8eF0gH2iJ4kL6mN8oP0qR2sT4uV6wX8yZ0aB2cD4eF6gH8iJ0kL2mN4oP6qR8sT0uV2wX4yZ6aB8cD0eF2gH4iJ6kL8mN0oP2qR4sT6uV8wX0yZ2aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2uV4wX6yZ8aB0cD2eF4gH6iJ8kL0mN2oP4qR6sT8uV0wX2yZ4QIDAQAB"
)

var spfTXT = []string{"TXT example.com."}

var ips = []net.IP{net.ParseIP("192.0.2.10"), net.ParseIP("2001:db8::10")}

func dkim(d string) (string, bool) {
	if d != domain {
		return "", false
	}
	// An RSA and an Ed25519 key, as Petrel makes for every domain.
	return dnsguide.DKIMRecord("petrel1", "v=DKIM1; k=rsa; p="+dkimP) + "\n" + dnsguide.DKIMRecord("petrel2", "v=DKIM1; k=ed25519; p="+edP), true
}

const edP = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

var ed25519Rec = []string{"TXT petrel2._domainkey.example.com."}

func records() []dnsguide.Record { return dnsguide.Records(domain, hostname, ips, dkim) }

// TestZoneGolden pins the printed zone, and checks that every line is
// zone-file syntax a DNS server accepts.
func TestZoneGolden(t *testing.T) {
	got := dnsguide.Zone(records())
	const golden = "testdata/zone.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("zone differs from %s (go test -update to rewrite):\n%s", golden, got)
	}
	types := map[string]int{}
	for _, line := range strings.Split(got, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Errorf("not zone-file syntax: %q: %v", line, err)
			continue
		}
		types[dns.TypeToString[rr.Header().Rrtype]]++
		if txt, ok := rr.(*dns.TXT); ok && strings.Contains(rr.Header().Name, "_domainkey") {
			if j := strings.Join(txt.Txt, ""); j != "v=DKIM1; k=rsa; p="+dkimP && j != "v=DKIM1; k=ed25519; p="+edP {
				t.Errorf("DKIM TXT split wrongly: %q", txt.Txt)
			}
		}
	}
	want2 := map[string]int{"MX": 1, "A": 1, "AAAA": 1, "TXT": 6, "CNAME": 3, "SRV": 6, "PTR": 2}
	for k, n := range want2 {
		if types[k] != n {
			t.Errorf("%d %s records, want %d", types[k], k, n)
		}
	}
}

func TestRecordsWithoutDKIM(t *testing.T) {
	for _, r := range dnsguide.Records("other.org", hostname, nil, dkim) {
		if strings.Contains(r.Name, "_domainkey") {
			t.Errorf("DKIM record for a domain without a key: %v", r)
		}
		if r.Type == "A" || r.Type == "PTR" {
			t.Errorf("address record without addresses: %v", r)
		}
	}
}

// TestCheckAllRight publishes exactly what Records suggests and expects
// every finding to be right.
func TestCheckAllRight(t *testing.T) {
	r := startZone(t, dnsguide.Zone(records()))
	fs := dnsguide.Check(ctx(t), r, domain, hostname, ips, dkim)
	if len(fs) != len(records()) {
		t.Fatalf("%d findings for %d records", len(fs), len(records()))
	}
	for _, f := range fs {
		if f.Status != dnsguide.StatusOK {
			t.Errorf("%s", f)
		}
		if strings.Contains(f.String(), "\n") {
			t.Errorf("finding is more than one line: %q", f)
		}
	}
}

// TestCheckFindings breaks one thing at a time and expects exactly that
// record's finding to say so, with a fix.
func TestCheckFindings(t *testing.T) {
	tests := []struct {
		name     string
		drop     string   // remove zone lines containing this
		add      []string // then add these lines
		servfail []string
		also     []string // records that may fail as a consequence
		record   string   // the finding, by "TYPE name"
		status   dnsguide.Status
		fix      string // the fix must contain this
	}{
		{name: "no MX", drop: "\tMX\t", also: spfTXT, record: "MX example.com.", status: dnsguide.StatusMissing, fix: "example.com.\t3600\tIN\tMX\t10 mx.example.com."},
		{name: "MX elsewhere", drop: "\tMX\t", also: spfTXT, add: []string{"example.com. 60 IN MX 10 mail.provider.net."}, record: "MX example.com.", status: dnsguide.StatusWrong, fix: "replace it with example.com. IN MX 10 mx.example.com."},
		{name: "null MX", drop: "\tMX\t", also: spfTXT, add: []string{"example.com. 60 IN MX 0 ."}, record: "MX example.com.", status: dnsguide.StatusWrong, fix: "MX 10 mx.example.com."},
		{name: "A wrong", drop: "\tA\t", also: spfTXT, add: []string{"mx.example.com. 60 IN A 198.51.100.7"}, record: "A mx.example.com.", status: dnsguide.StatusWrong, fix: "192.0.2.10"},
		{name: "AAAA missing", drop: "\tAAAA\t", also: spfTXT, record: "AAAA mx.example.com.", status: dnsguide.StatusMissing, fix: "2001:db8::10"},
		{name: "SPF right but the A record wrong", drop: "\tA\t", add: []string{"mx.example.com. 60 IN A 198.51.100.7"}, also: []string{"A mx.example.com."}, record: "TXT example.com.", status: dnsguide.StatusWrong, fix: "fix the MX and A/AAAA records"},
		{name: "SPF missing", drop: "v=spf1", record: "TXT example.com.", status: dnsguide.StatusMissing, fix: `"v=spf1 mx -all"`},
		{name: "SPF refuses us", drop: "v=spf1", add: []string{`example.com. 60 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"`}, record: "TXT example.com.", status: dnsguide.StatusWrong, fix: `"v=spf1 mx -all"`},
		{name: "SPF other form is right", drop: "v=spf1", add: []string{`example.com. 60 IN TXT "v=spf1 a:mx.example.com ~all"`}, record: "TXT example.com.", status: dnsguide.StatusOK},
		{name: "two SPF records", add: []string{`example.com. 60 IN TXT "v=spf1 -all"`}, record: "TXT example.com.", status: dnsguide.StatusWrong, fix: "keep only"},
		{name: "DKIM old key", drop: "v=DKIM1", also: ed25519Rec, add: []string{`petrel1._domainkey.example.com. 60 IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"`}, record: "TXT petrel1._domainkey.example.com.", status: dnsguide.StatusWrong, fix: dkimP[:40]},
		{name: "DKIM missing", drop: "v=DKIM1", also: ed25519Rec, record: "TXT petrel1._domainkey.example.com.", status: dnsguide.StatusMissing, fix: "petrel1._domainkey.example.com."},
		{name: "only the RSA key published", drop: "k=ed25519", record: "TXT petrel2._domainkey.example.com.", status: dnsguide.StatusMissing, fix: "petrel2._domainkey.example.com.\t3600\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=" + edP},
		{name: "only the Ed25519 key published", drop: "k=rsa", record: "TXT petrel1._domainkey.example.com.", status: dnsguide.StatusMissing, fix: "petrel1._domainkey.example.com."},
		{name: "DMARC missing", drop: "v=DMARC1", record: "TXT _dmarc.example.com.", status: dnsguide.StatusMissing, fix: "v=DMARC1; p=quarantine"},
		{name: "DMARC reject is right", drop: "v=DMARC1", add: []string{`_dmarc.example.com. 60 IN TXT "v=DMARC1; p=reject"`}, record: "TXT _dmarc.example.com.", status: dnsguide.StatusOK},
		{name: "DMARC without policy", drop: "v=DMARC1", add: []string{`_dmarc.example.com. 60 IN TXT "v=DMARC1; rua=mailto:x@example.com"`}, record: "TXT _dmarc.example.com.", status: dnsguide.StatusWrong, fix: "p=quarantine"},
		{name: "MTA-STS bad id", drop: "v=STSv1", add: []string{`_mta-sts.example.com. 60 IN TXT "v=STSv1; id=not-valid!"`}, record: "TXT _mta-sts.example.com.", status: dnsguide.StatusWrong, fix: "v=STSv1; id="},
		{name: "TLS-RPT missing", drop: "TLSRPTv1", record: "TXT _smtp._tls.example.com.", status: dnsguide.StatusMissing, fix: "v=TLSRPTv1"},
		{name: "autoconfig as A record is right", drop: "autoconfig.", add: []string{"autoconfig.example.com. 60 IN A 192.0.2.10"}, record: "CNAME autoconfig.example.com.", status: dnsguide.StatusOK},
		{name: "autoconfig elsewhere", drop: "autoconfig.", add: []string{"autoconfig.example.com. 60 IN CNAME web.example.net.", "web.example.net. 60 IN A 203.0.113.5"}, record: "CNAME autoconfig.example.com.", status: dnsguide.StatusWrong, fix: "autoconfig.example.com.\t3600\tIN\tCNAME\tmx.example.com."},
		{name: "autodiscover missing", drop: "autodiscover.", record: "CNAME autodiscover.example.com.", status: dnsguide.StatusMissing, fix: "CNAME\tmx.example.com."},
		{name: "SRV wrong port", drop: "_imaps._tcp", add: []string{"_imaps._tcp.example.com. 60 IN SRV 0 1 1993 mx.example.com."}, record: "SRV _imaps._tcp.example.com.", status: dnsguide.StatusWrong, fix: "0 1 993 mx.example.com."},
		{name: "SRV missing", drop: "_submissions._tcp", record: "SRV _submissions._tcp.example.com.", status: dnsguide.StatusMissing, fix: "0 1 465 mx.example.com."},
		{name: "PTR missing", drop: "\tPTR\t", also: []string{"PTR 0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."}, record: "PTR 10.2.0.192.in-addr.arpa.", status: dnsguide.StatusMissing, fix: "reverse DNS of 192.0.2.10 to mx.example.com."},
		{name: "PTR generic", drop: "10.2.0.192.in-addr.arpa", add: []string{"10.2.0.192.in-addr.arpa. 60 IN PTR static-10.hoster.net."}, record: "PTR 10.2.0.192.in-addr.arpa.", status: dnsguide.StatusWrong, fix: "reverse DNS of 192.0.2.10"},
		{name: "SERVFAIL", servfail: []string{"_dmarc.example.com."}, record: "TXT _dmarc.example.com.", status: dnsguide.StatusFailed, fix: "name servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []string
			for _, l := range strings.Split(dnsguide.Zone(records()), "\n") {
				if tt.drop == "" || !strings.Contains(l, tt.drop) {
					lines = append(lines, l)
				}
			}
			lines = append(lines, tt.add...)
			r := startZone(t, strings.Join(lines, "\n"), tt.servfail...)
			var found bool
			for _, f := range dnsguide.Check(ctx(t), r, domain, hostname, ips, dkim) {
				if f.Record.Type+" "+f.Record.Name != tt.record {
					if f.Status != dnsguide.StatusOK && !slices.Contains(tt.also, f.Record.Type+" "+f.Record.Name) {
						t.Errorf("unrelated finding: %s", f)
					}
					continue
				}
				found = true
				if f.Status != tt.status {
					t.Errorf("status %s, want %s: %s", f.Status, tt.status, f)
				}
				if tt.status == dnsguide.StatusOK && f.Fix != "" {
					t.Errorf("fix for a right record: %s", f)
				}
				if !strings.Contains(f.Fix, tt.fix) {
					t.Errorf("fix %q does not contain %q", f.Fix, tt.fix)
				}
			}
			if !found {
				t.Errorf("no finding for %s", tt.record)
			}
		})
	}
}

// TestCheckNothingPublished: a domain with no records at all gets one
// "missing" line per record, and no lookup error.
func TestCheckNothingPublished(t *testing.T) {
	r := startZone(t, "")
	for _, f := range dnsguide.Check(ctx(t), r, domain, hostname, ips, dkim) {
		if f.Status != dnsguide.StatusMissing || f.Fix == "" {
			t.Errorf("%s", f)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}
