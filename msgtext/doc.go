// Package msgtext owns the reading of a message's header section as plain
// bytes (RFC 5322 section 2.2), for the packages that route mail without
// parsing it whole: where the header ends, its fields one by one (Fields:
// name, value as written, unfolded, or as one line of text), and how many
// Received fields it has (the hop count of RFC 5321 section 6.3); and the
// one normalisation of line ends to CRLF.
//
// Invariants: nothing here allocates a copy of the message or fails; any
// bytes are accepted, with CRLF or bare LF line ends, and only the header
// section (up to the first empty line) is read, never the body.
package msgtext
