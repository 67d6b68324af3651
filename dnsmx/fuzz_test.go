package dnsmx

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzChase feeds arbitrary DNS answers to the CNAME-following code: it
// must never panic or loop, and what it returns must be of the asked type.
func FuzzChase(f *testing.F) {
	for _, rrs := range [][]string{
		{"a.test. 60 IN MX 10 mx.a.test."},
		{"a.test. 60 IN CNAME b.test.", "b.test. 60 IN MX 0 ."},
		{"a.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME a.test."},
	} {
		m := new(dns.Msg)
		m.SetQuestion("a.test.", dns.TypeMX)
		for _, r := range rrs {
			rr, err := dns.NewRR(r)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		for _, qt := range []uint16{dns.TypeMX, dns.TypeA, dns.TypeAAAA} {
			a, _ := chase(m, "a.test.", qt)
			for _, rr := range a.rrs {
				if rr.Header().Rrtype != qt {
					t.Fatalf("chase(%s) returned %v", dns.TypeToString[qt], rr)
				}
			}
			negativeTTL(m)
		}
	})
}
