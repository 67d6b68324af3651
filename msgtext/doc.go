// Package msgtext owns the reading of a message's header section as plain
// bytes (RFC 5322 section 2.2), for the packages that route mail without
// parsing it whole: where the header ends, and how many Received fields it
// has (the hop count of RFC 5321 section 6.3).
//
// Invariants: nothing here allocates a copy of the message or fails; any
// bytes are accepted, with CRLF or bare LF line ends, and only the header
// section (up to the first empty line) is read, never the body.
package msgtext
