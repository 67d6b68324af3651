package msgauth_test

import (
	"testing"

	"petrel/msgauth"
)

// BenchmarkVerify measures Verify on a DKIM-signed (Ed25519 + RSA) message
// from an SPF-allowed address, against the test DNS server over UDP. "warm"
// is the steady state of a burst from one sender (answers cached), "cold"
// asks the DNS server every time.
func BenchmarkVerify(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  int
	}{{"warm", 0}, {"cold", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, func(o *msgauth.Options) {
				if bc.ttl < 0 {
					o.CacheTTL = -1
				}
			})
			in := msgauthInput(goodIP, "mail.example.com", "alice@example.com", e.signed(b, "example.com", "alice@example.com"))
			b.ReportAllocs()
			for b.Loop() {
				v, err := e.v.Verify(b.Context(), in)
				if err != nil || v.DMARC[0].Result != "pass" {
					b.Fatalf("Verify: %v %+v", err, v)
				}
			}
		})
	}
}
