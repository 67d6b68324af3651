// Package dnsguide owns Petrel's DNS advice: the records a domain must
// publish for Petrel to receive mail, send mail that is accepted, and be
// found by mail clients (Records, printed by Zone as zone-file lines), and a
// check of what is actually published (Check), one line per record saying
// whether it is right, missing or wrong, and the exact fix.
//
// It only reads DNS, through a Resolver that *net.Resolver satisfies, so
// `petrel dns check` can use the configured resolver and tests a DNS server
// of their own.
package dnsguide
