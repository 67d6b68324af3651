// Package mta owns Petrel's SMTP front-end: port 25 for mail from other
// servers, and submission (587 with STARTTLS, 465 with implicit TLS) for
// users' own clients. It adds the Received header (RFC 5321 4.4), delivers
// local recipients into the store, hands every other recipient to the
// queue, and relays only for authenticated users: never an open relay.
//
// The contract with the client is the one of RFC 5321 4.1.1.4: "250" to
// DATA is said only after the store's commit (and the queue's) returned,
// that is, after the message is on disk.
//
// A local address is resolved by the store (route.go): an account, with
// or without +tag; an alias or catch-all, whose local targets get a copy
// (with X-Original-To) and whose remote targets get one through the queue,
// under an SRS envelope sender so that it passes SPF; a mailing list
// (list.go), expanded once to its members, local ones in one store commit
// and the others in one queue commit, each copy with its own
// List-Unsubscribe; a list's bounce address, whose DSNs (dsn.go) count
// against members; an SRS address of ours, whose bounce goes back to the
// original sender. postmaster@ and abuse@ of every local domain, and
// postmaster alone, are always accepted: when no account or alias has the
// name they go to the postmaster (Options.Postmaster, else the account
// made first), never to another domain. dispatch.go works all of it out before writing
// anything, so a message refused for every recipient leaves no trace.
//
// Loops stop here: more than 100 Received fields, a Delivered-To of ours
// for the same recipient, or the list's own List-Id refuse the message
// with 554 5.4.6, and a list's posting policy with 550 5.7.1, whatever
// its other recipients: what can be refused at DATA is, so that no DSN
// goes to a sender that may be forged (backscatter). Bouncer reports the
// other refusals after DATA, never to a sender that failed SPF or DMARC
// (CheckResult.NoBounce), whose forwards go from <> too. Mail that failed
// DMARC p=reject but was let in is never forwarded nor sent to a list. DeliverLocal gives the queue the same
// routing for what it holds for local addresses.
//
// The SMTP protocol layer is the package's own (conn.go, parse.go,
// dotreader.go, server.go): it reads commands, checks their syntax and
// order (a command out of sequence is 503 5.5.1, RFC 5321 4.3.2), writes
// the replies, and calls the session's handlers (session.go) for what they
// mean. Enhanced status codes (RFC 2034) are in the replies only after EHLO,
// which offers them, never after HELO. Clear text pipelined after STARTTLS
// is dropped; after the handshake the session begins again.
//
// A read timeout ends the session (timeout.go): a command line must arrive
// whole within the command timeout, and after a timeout nothing more is
// read, so neither a trickled line's first half nor the rest of a stalled
// message body is ever run as a command. Addresses with control characters
// or invalid UTF-8 are refused.
package mta
