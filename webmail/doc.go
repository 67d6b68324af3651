// Package webmail owns Petrel's web mail: the pages an ordinary browser
// shows to read folders and send mail, served by web/ at "/" on the HTTP
// and HTTPS listeners. A GET shows a folder or a message; a POSTed form
// changes flags, moves messages or sends one, so everything works without
// JavaScript; the embedded script only adds live updates (Server-Sent
// Events fed by the store's change events) and keyboard shortcuts.
//
// Search and the conversation view use package search, the code behind
// IMAP's SEARCH and THREAD: a search of the box is the server's own
// SEARCH over the whole folder, and conversations are RFC 5256 REFERENCES
// threads of the whole folder, kept per folder in a bounded cache
// (threads.go) whose snapshots are never changed once made.
//
// It reaches the store, the submission path and the queue only through
// the small interfaces it declares (Store, Sender, Outbox), which
// cmd/petrel satisfies with *store.Store or *pgstore.Store, *mta.MTA and
// *queue.Queue. Sessions are kept in memory, or, when several nodes serve
// the web mail, in a SessionStore (PostgreSQL), by a hash of their token.
//
// Invariants, kept by every handler:
//
//   - A session belongs to one account, and every mailbox and message is
//     looked up through it: a mailbox of another account is "not found",
//     whatever its id.
//   - No password travels in clear text: over plain HTTP, a client that is
//     not on loopback is redirected to HTTPS before anything else.
//   - Every state-changing request is a POST carrying the session's CSRF
//     token (the login form a pre-session one), compared in constant time.
//     Session cookies are HttpOnly, SameSite=Strict, Secure over HTTPS, and
//     a login always makes a new session id.
//   - Every page is served under a Content-Security-Policy that allows no
//     inline script and no framing (frame-ancestors 'none'); mail's HTML is
//     sanitized by bluemonday and shown only in a sandboxed frame whose own
//     policy allows no script and no request to the network, except images
//     the user allowed for that one message.
//   - Attachments are always downloaded (Content-Disposition: attachment,
//     a file name without a path), never rendered by the browser.
//   - Every asset is embedded in the binary; no page refers to another
//     host.
package webmail
