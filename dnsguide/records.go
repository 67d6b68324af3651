package dnsguide

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
)

// Record is one DNS record to publish.
type Record struct {
	Name  string // owner name, fully qualified with the trailing dot
	Type  string // MX, A, AAAA, TXT, CNAME, SRV or PTR
	Value string // RDATA in zone-file form; TXT values unquoted
	// Why says what the record is for, printed as a comment by Zone.
	Why string
}

// TTL is the time to live Zone prints: an hour, short enough to fix a
// mistake the same day.
const TTL = 3600

// DKIMRecord joins a DKIM selector and its TXT value into the string the
// dkim func of Records and Check returns, e.g.
// DKIMRecord("petrel2026", "v=DKIM1; k=ed25519; p=…"); a domain with
// several keys gives one such line per key, joined by "\n".
func DKIMRecord(selector, txt string) string { return selector + " " + txt }

// Records lists what domain should publish, for a mail host named hostname
// at ips. dkim returns the domain's DKIM keys as DKIMRecord(selector, txt)
// lines, or false when the domain has none (no DKIM record is then listed).
func Records(domain, hostname string, ips []net.IP, dkim func(domain string) (string, bool)) []Record {
	d := fqdn(domain)
	h := fqdn(hostname)
	bare := strings.TrimSuffix(d, ".")
	rs := []Record{
		{d, "MX", "10 " + h, "mail for " + bare + " goes to " + strings.TrimSuffix(h, ".")},
	}
	for _, ip := range ips {
		t := "AAAA"
		if ip.To4() != nil {
			t = "A"
		}
		rs = append(rs, Record{h, t, ip.String(), "the mail host's address"})
	}
	rs = append(rs, Record{d, "TXT", "v=spf1 mx -all", "SPF (RFC 7208): only the domain's MX hosts send its mail"})
	if dkim != nil {
		if recs, ok := dkim(bare); ok {
			for _, rec := range strings.Split(recs, "\n") {
				if sel, txt, ok := strings.Cut(strings.TrimSpace(rec), " "); ok {
					txt = strings.TrimSpace(txt)
					rs = append(rs, Record{sel + "._domainkey." + d, "TXT", txt, dkimWhy(bare, txt)})
				}
			}
		}
	}
	rs = append(rs,
		Record{"_dmarc." + d, "TXT", "v=DMARC1; p=quarantine; rua=mailto:postmaster@" + bare, "DMARC (RFC 7489): what receivers do with mail that fails SPF and DKIM"},
		Record{"_mta-sts." + d, "TXT", "v=STSv1; id=" + stsID(hostname), "MTA-STS (RFC 8461): senders must use TLS; change id when the policy changes"},
		Record{"mta-sts." + d, "CNAME", h, "serves the MTA-STS policy (needs HTTPS on port 443, see docs/dns.md)"},
		Record{"_smtp._tls." + d, "TXT", "v=TLSRPTv1; rua=mailto:postmaster@" + bare, "TLS-RPT (RFC 8460): where senders report TLS failures"},
		Record{"autoconfig." + d, "CNAME", h, "Thunderbird autoconfig"},
		Record{"autodiscover." + d, "CNAME", h, "Outlook autodiscover"},
	)
	// RFC 6186 service records; RFC 8314 4.1 prefers implicit TLS, so those
	// get the better (lower) priority.
	for _, s := range srvServices {
		rs = append(rs, Record{"_" + s.service + "._tcp." + d, "SRV", fmt.Sprintf("%d 1 %d %s", s.priority, s.port, h), "RFC 6186: clients find " + s.what})
	}
	for _, ip := range ips {
		if ptr, err := reverseName(ip); err == nil {
			rs = append(rs, Record{ptr, "PTR", h, "reverse DNS; set at your hosting provider, receivers check it"})
		}
	}
	return rs
}

// dkimWhy is the comment of a DKIM record, naming its algorithm.
func dkimWhy(domain, txt string) string {
	switch dkimAlgorithm(txt) {
	case "ed25519":
		return "DKIM (RFC 8463): the Ed25519 key Petrel signs " + domain + "'s mail with, beside the RSA one"
	case "rsa":
		return "DKIM (RFC 6376): the RSA key Petrel signs " + domain + "'s mail with (every receiver checks RSA)"
	}
	return "DKIM (RFC 6376): a key Petrel signs " + domain + "'s mail with"
}

// dkimAlgorithm is the k= tag of a DKIM key record, "rsa" when absent
// (RFC 6376 3.6.1).
func dkimAlgorithm(txt string) string {
	for _, tag := range strings.Split(txt, ";") {
		if k, v, ok := strings.Cut(tag, "="); ok && strings.TrimSpace(k) == "k" {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return "rsa"
}

var srvServices = []struct {
	service  string
	port     int
	priority int
	what     string
}{
	{"imaps", 993, 0, "IMAP over TLS"},
	{"imap", 143, 10, "IMAP with STARTTLS"},
	{"pop3s", 995, 0, "POP3 over TLS"},
	{"pop3", 110, 10, "POP3 with STARTTLS"},
	{"submissions", 465, 0, "submission over TLS (RFC 8314)"},
	{"submission", 587, 10, "submission with STARTTLS"},
}

// stsID is the MTA-STS policy id: it must change whenever the policy does,
// and Petrel's policy lists the mail host, so it is derived from its name.
func stsID(hostname string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSuffix(hostname, "."))))
	return hex.EncodeToString(sum[:8])
}

func fqdn(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func reverseName(ip net.IP) (string, error) {
	name, err := dnsReverse(ip.String())
	if err != nil {
		return "", fmt.Errorf("reverse name of %s: %w", ip, err)
	}
	return name, nil
}

// Zone prints records in zone-file syntax (RFC 1035 5.1), each after a
// comment saying what it is for.
func Zone(records []Record) string {
	var b strings.Builder
	for _, r := range records {
		if r.Why != "" {
			fmt.Fprintf(&b, "; %s\n", r.Why)
		}
		fmt.Fprintln(&b, r.String())
	}
	return b.String()
}

// String is the record as one zone-file line.
func (r Record) String() string {
	v := r.Value
	if r.Type == "TXT" {
		v = quoteTXT(v)
	}
	return fmt.Sprintf("%s\t%d\tIN\t%s\t%s", r.Name, TTL, r.Type, v)
}

// quoteTXT splits a TXT value into quoted strings of at most 255 bytes
// (RFC 1035 3.3.14), escaping quotes and backslashes.
func quoteTXT(s string) string {
	var parts []string
	for len(s) > 0 || len(parts) == 0 {
		n := min(len(s), 255)
		chunk := s[:n]
		s = s[n:]
		parts = append(parts, `"`+escapeTXT(chunk)+`"`)
	}
	return strings.Join(parts, " ")
}

// escapeTXT escapes a character-string for a zone file (RFC 1035 5.1):
// quote and backslash with a backslash, other bytes outside printable
// ASCII as \DDD.
func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
