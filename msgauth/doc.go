// Package msgauth owns Petrel's message authentication: checking SPF, DKIM and
// DMARC on mail that arrives on port 25, recording the outcome in an
// Authentication-Results header (RFC 8601), deciding what the policy makes of
// it (accept, deliver to Junk, refuse with 550 5.7.1), and signing outgoing
// mail with DKIM keys it generates and keeps on disk.
//
// It does no SMTP itself: the mta package calls [Verifier.Verify] at the end
// of DATA and [Signer.Sign] before queueing, and cmd/petrel wires both.
//
// All DNS goes through the small [Resolver] interface, which *net.Resolver
// satisfies. The Verifier puts a cache in front of it (entries live for a
// fixed time, because *net.Resolver does not report TTLs) and gives every
// message its own lookup budget and deadline, so a hostile sender cannot make
// one message cost more than a bounded number of queries and seconds. SPF's
// own limits (RFC 7208 section 4.6.4: 10 lookups, 2 void lookups) are applied
// by blitiri.com.ar/go/spf within that budget.
//
// The pieces are:
//
//   - resolver.go, cache.go: the DNS interface, the cache and the budget.
//   - verify.go: Verify, which runs SPF, DKIM and the DMARC record lookup
//     concurrently and then evaluates DMARC and the local policy.
//   - spf.go, dkim.go, dmarc.go: one check each; domain.go: domain
//     normalization, organizational domains and alignment.
//   - policy.go: Policy and Action, what a result means for delivery.
//   - authres.go, strip.go: writing our Authentication-Results header and
//     removing forged ones (RFC 8601 section 5); header.go: the fields both
//     use, with their offsets (from msgtext.Fields).
//   - keys.go, signer.go, keyring.go: DKIM key generation, storage and
//     signing; a KeyRing reloads the keys while the server runs.
package msgauth
