package dnsguide_test

import (
	"net"
	"strings"
	"testing"

	"petrel/dnsguide"

	"github.com/miekg/dns"
)

// FuzzZoneTXT checks that any TXT value (a DKIM key, a policy with odd
// bytes) prints as one zone-file line that a DNS server parses back to the
// same value.
func FuzzZoneTXT(f *testing.F) {
	f.Add("v=spf1 mx -all")
	f.Add(`quote " and back\slash`)
	f.Add(strings.Repeat("k", 600))
	f.Add("ctl\x00\n\xff")
	f.Fuzz(func(t *testing.T, v string) {
		line := dnsguide.Record{Name: "x.example.com.", Type: "TXT", Value: v}.String()
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("TXT record spans lines: %q", line)
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("%q does not parse: %v", line, err)
		}
		txt, ok := rr.(*dns.TXT)
		if !ok {
			t.Fatalf("%q parsed as %T", line, rr)
		}
		var got strings.Builder
		for _, s := range txt.Txt {
			if len(unescape(s)) > 255 {
				t.Errorf("string of %d bytes > 255", len(unescape(s)))
			}
			got.WriteString(unescape(s))
		}
		if got.String() != v {
			t.Errorf("round trip %q -> %q", v, got.String())
		}
	})
}

// unescape undoes miekg/dns's presentation escapes in a parsed TXT string.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
				b.WriteByte((s[i+1]-'0')*100 + (s[i+2]-'0')*10 + (s[i+3] - '0'))
				i += 3
				continue
			}
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// FuzzReverse checks that every PTR name Records prints maps back to its
// address in the fix `dns check` gives.
func FuzzReverse(f *testing.F) {
	f.Add([]byte{192, 0, 2, 10})
	f.Add([]byte(net.ParseIP("2001:db8::10")))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 && len(b) != 16 {
			return
		}
		ip := net.IP(b)
		var ptr string
		for _, r := range dnsguide.Records("example.com", "mx.example.com", []net.IP{ip}, nil) {
			if r.Type == "PTR" {
				ptr = r.Name
			}
		}
		if ptr == "" {
			t.Fatalf("no PTR record for %s", ip)
		}
		if got := dnsguide.ReverseIP(ptr); got != ip.String() {
			t.Errorf("ReverseIP(%q) = %q, want %s", ptr, got, ip)
		}
	})
}
