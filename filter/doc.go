// Package filter owns the content filters Petrel runs on a message before
// it answers DATA: the [[filter]] entries of the configuration, each a
// milter (the Sendmail/Postfix filter protocol, as rspamd, clamav-milter,
// OpenDKIM and friends speak it), run in order over
// github.com/d--j/go-milter's client.
//
// A Chain replays the SMTP transaction to each filter once the message is
// read (connect with the client address, HELO, MAIL, every RCPT, DATA,
// the header fields, the body and end of message), with the macros
// filters read ({client_addr}, {if_addr}, j, i, {auth_authen}…), and
// returns one Result: accept, reject (the filter's 5xx), tempfail (its
// 4xx), discard (accepted, delivered nowhere) or quarantine (delivered to
// the Junk mailbox), with the message as the filters edited it (header
// fields added, inserted, changed or deleted, body replaced). Each filter
// sees the message as the filters before it left it.
//
// Invariants: Check never writes anything anywhere, so the caller decides
// before its 250 and a refused message leaves no trace; a filter that
// cannot be reached, times out or breaks the protocol follows its
// on_error ("tempfail": 451 4.7.1 to the client; "accept": skipped); a
// filter never waits longer than its timeout for any one reply nor the
// whole message longer than the caller's context allows.
package filter
