// Package filter owns the content filters Petrel runs on SMTP mail: the
// [[filter]] entries of the configuration, each a milter (the
// Sendmail/Postfix filter protocol, as rspamd, clamav-milter, OpenDKIM and
// friends speak it), run in order over github.com/d--j/go-milter's client.
//
// A Session (Chain.Open) is the filters of one SMTP connection, told of
// each stage as it happens: connect with the client address, HELO, MAIL,
// every RCPT, then at DATA the header fields, the body and end of message,
// with the macros filters read ({client_addr}, {if_addr}, j, i,
// {auth_authen}…). Each stage gives a Result: go on, reject (the filter's
// 5xx), tempfail (its 4xx), discard (accepted, delivered nowhere) or, for
// the message, quarantine (delivered to the Junk mailbox) with the message
// as the filters edited it (header fields added, inserted, changed or
// deleted, body replaced); each filter sees the message as the filters
// before it left it. Chain.Check runs a whole transaction at once, for
// callers that have the message first.
//
// Invariants: nothing here writes anything anywhere, so the caller decides
// before its 250 and a refused message leaves no trace; a filter that
// cannot be reached, times out or breaks the protocol at any stage follows
// its on_error ("tempfail": 451 4.7.1 to that command and every later one
// that needs the filter; "accept": left out for the rest of the
// connection); a filter never waits longer than its timeout for any one
// reply nor the message longer than the caller's context allows.
package filter
