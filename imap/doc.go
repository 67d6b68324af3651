// Package imap owns Petrel's IMAP service: it serves the mail store
// (package store) to IMAP4rev1 and IMAP4rev2 clients on top of go-imap's
// imapserver, with flags, partial fetch, server-side search and live
// updates shared by every session of a mailbox.
//
// The shape follows imapmemserver (Server ≈ Backend, session ≈ UserSession,
// mailbox ≈ Mailbox, view ≈ MailboxView) but the state lives in bbolt:
//
//   - A mailbox (mailbox.go) is opened once per server however many sessions
//     select it. It holds the UID list loaded from the store, kept current by a
//     store.Watch callback. That callback runs on the store's committer
//     goroutine, so it only updates memory under mailbox.mu and queues the
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
