// Package store owns Petrel's mail store: accounts, mailboxes and messages in
// one bbolt file, and the change events that tell every reader of a mailbox
// what any writer (SMTP delivery, IMAP, POP3) changed. It also keeps the
// addresses that are not accounts: aliases and catch-alls (alias.go, with
// ResolveAddress, which says where mail for a local address goes) and
// mailing lists with their members and bounce counts (list.go).
//
// It is the only package that touches bbolt, and its API speaks of mail
// (deliver, flag, expunge, copy, move, list), not of buckets.
//
// Invariants, which every function in this package keeps:
//
//   - Every mutation is one bbolt read-write transaction, committed with fsync
//     (never NoSync). A method that returns nil has made its change durable.
//   - All writes go through one committer goroutine (commit.go), which groups
//     the writes queued while the previous commit was syncing into one
//     transaction: durability costs one fsync per batch, not per message.
//   - Change events are published after the commit, in commit order, by that
//     same goroutine (events.go). A watcher never sees an event for a change
//     that is not durable.
//   - UIDs are never reused in a mailbox; UIDVALIDITY is unique per mailbox
//     creation, so a mailbox deleted and made again gets a new one.
//   - Message bytes live in a blob shared by every copy of the message (the
//     recipients of one delivery, COPY, MOVE); a small per-message prefix holds
//     what differs (Received, Return-Path). A blob is deleted with its last
//     reference.
//   - Slices read from bbolt are copied before a transaction ends.
package store
