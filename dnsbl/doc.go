// Package dnsbl owns the reputation of the connecting host: DNS block
// lists (DNSBL, as zen.spamhaus.org) and allow lists (DNSWL, as
// list.dnswl.org) asked about the client's address, IPv4 or IPv6, in the
// way of RFC 5782.
//
// Each zone has a weight: a listing in a block list adds it, one in an
// allow list takes it away, and a host whose score reaches 1 is listed.
// A zone's answers that mean "not listed" (Spamhaus answers 127.255.255.x
// when it refuses to answer a query) never count, nor do answers outside
// 127.0.0.0/8. A zone that cannot be asked (SERVFAIL, timeout) counts as
// not listing the host: a broken list never refuses mail.
//
// Lookups go through a resolver that caches answers, negative ones
// included, for their TTL (dnsmx.Resolver). What the MTA does with a
// listed host (refuse it at connect or at RCPT with 554 5.7.1 naming the
// lists, or file its mail as junk) is the Action the caller reads.
package dnsbl
