// Package search evaluates search criteria on the messages of a mailbox
// and threads them: the one implementation behind IMAP's SEARCH, SORT and
// THREAD (package imap) and the web mail's search box and conversation
// view (package webmail).
//
// Criteria are go-imap's SearchCriteria (every RFC 9051 key), plus the
// keys it cannot hold, spelled as header keys no field can have
// (WithinKey, ModSeqKey, EmailIDKey). Run evaluates them over a list of
// UIDs read from the store in batches, one short read transaction each:
// flags, sizes and dates from the metadata; header keys on the top header
// only; body and text keys on the decoded text of the text parts, in
// their charset (text.go). References threads messages as RFC 5256's
// THREAD=REFERENCES does (thread.go).
//
// Invariants: a match never depends on the reader (the same message and
// criteria give the same answer to IMAP and to the web mail); the package
// holds no state between calls, and never keeps a read transaction open
// while its caller's callback writes to a network.
package search
