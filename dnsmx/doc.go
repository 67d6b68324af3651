// Package dnsmx owns how Petrel finds the mail servers of a domain: the MX
// records ordered by preference (RFC 5321 section 5.1), the implicit MX of a
// domain without MX records, the null MX of RFC 7505, and the A/AAAA
// addresses of every host, all asked of one configured recursive resolver
// over github.com/miekg/dns and cached for their TTL.
//
// Every error it returns is an *Error, which says whether retrying later may
// help (Temporary) or the domain cannot receive mail (permanent): NXDOMAIN,
// a null MX and a domain without any address are permanent; SERVFAIL,
// REFUSED, timeouts and network errors are temporary.
package dnsmx
