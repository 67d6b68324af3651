// Package imap owns Petrel's IMAP service: it serves the mail store
// (package store) to IMAP4rev1 and IMAP4rev2 clients with its own protocol
// engine, with flags, partial fetch, server-side search and live updates
// shared by every session of a mailbox. go-imap's imap package provides
// the types of parsed commands (flags, sets, fetch and search options,
// envelope and body structure); the protocol is Petrel's:
//
//   - parse.go reads a command as it arrives (atoms, quoted strings,
//     literals with LITERAL+ and literal8, sequence sets with "*" and "$"),
//     sending continuation requests for synchronising literals; malformed
//     input is a syntaxError, answered BAD, never NO [SERVERBUG]. utf7.go
//     converts modified UTF-7 mailbox names.
//   - respond.go writes responses into the session's bufio.Writer, which
//     is flushed to the corkConn (corkconn.go) before every read.
//   - wait.go is how a session waits for its client in IDLE, under
//     NOTIFY, or logged in and quiet for a second (quietAfter in
//     session.go): the command hands the session to a new goroutine, which
//     waits in a small read holding no bufio buffers, while a store event
//     pokes a wakeup whose hook starts a short-lived goroutine that writes
//     the updates. An idle IDLE connection thus costs about 10 KiB
//     (TestIdleConnectionMemory), not the 8 KiB of buffers plus the stacks
//     of two goroutines it took before.
//   - session.go is the state machine and command loop; the commands live
//     in a file per group: cmd_auth.go (any state, login, ENABLE, IDLE),
//     cmd_mailbox.go (SELECT … APPEND, MULTIAPPEND), cmd_message.go (the
//     selected state's syntax; the work in fetch.go, search.go,
//     messages.go), sort.go (SORT, ESORT), thread.go (THREAD),
//     cmd_quota.go (QUOTA: one root per account, its usage kept by the
//     store), context.go (CONTEXT=SEARCH: PARTIAL, and updating
//     searches that poll reports as ADDTO and REMOVEFROM),
//     cmd_compress.go (COMPRESS DEFLATE; the compressed connection is
//     compressconn.go's deflateConn, its inflater internal/inflate) and
//     cmd_notify.go (NOTIFY: events told between commands too).
//
// Per session, a view also keeps what IMAP4rev1 calls \Recent (each new
// message is recent to exactly one session, claimed through the shared
// mailbox) and the keywords announced in FLAGS: a keyword a session has
// not been told of is announced (FLAGS, PERMANENTFLAGS) before the FETCH
// that shows it. MODSEQ comes from the store, which changes it in the same
// commit as the change it counts (CONDSTORE).
//
// Mailbox state is shared between sessions and lives in bbolt:
//
//   - A mailbox (mailbox.go) is opened once per server however many sessions
//     select it. It holds the UID list loaded from the store, kept current by a
//     store.Watch callback. That callback runs on the goroutine of the
//     write that led the store's commit, so it only updates memory under mailbox.mu and queues the
//     event to every view; it never calls the store or blocks.
//   - A view (view.go) is one session's picture of a selected mailbox: the
//     UIDs the client has been told about (index i = sequence number i+1) and
//     the events not yet reported. Poll applies them in commit order and
//     writes EXISTS, FETCH FLAGS and EXPUNGE, never an EXPUNGE where RFC 9051
//     7.5.1 forbids one (during FETCH, STORE, SEARCH by sequence number).
//   - Writes go through the store with store.WithOrigin(ctx, view), so a
//     session's own STORE is not echoed back to it.
//   - Message bytes are read in short read transactions through the store's
//     precomputed MIME structure (store.Part): a BODY[1]<0.100> copies 100
//     bytes, whatever the size of the attachments around it. Nothing is written
//     to the network inside a transaction.
package imap
