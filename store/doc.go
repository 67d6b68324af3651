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
//   - Every mutation is one bbolt read-write transaction, made durable
//     before the method returns nil: its pages and meta page are appended
//     to the write-ahead log (wal.go, path + "-wal") and the log is
//     fdatasync'd. bbolt's own syncs are off, its page writes go to the
//     file at once, and its meta page (which makes them the file's state)
//     is written only once the log record is durable, so readers and the
//     file only ever see durable states. A checkpoint syncs the file and
//     starts the log again; Open replays the log after a crash. A commit
//     of more than 4 MiB skips the log and is synced in the file, as bbolt
//     does.
//   - Commits are one at a time, each led by a writer (commit.go): the write
//     that finds none running commits itself with every write queued by
//     then, the writes that come meanwhile queue for the next, in one
//     transaction: durability costs one fsync per batch, not per message.
//   - bbolt's list of free pages is not part of a commit (NoFreelistSync): only
//     Close writes it, in a last empty commit, for the next Open to read;
//     after a crash Open rebuilds it by walking the file. It is bookkeeping of
//     unused space, never of mail.
//   - Change events are published after the commit, in commit order, by the
//     writer that led it (events.go). A watcher never sees an event for a
//     change that is not durable.
//   - UIDs are never reused in a mailbox; UIDVALIDITY is unique per mailbox
//     creation, so a mailbox deleted and made again gets a new one.
//   - Message bytes live in a blob shared by every copy of the message (the
//     recipients of one delivery, COPY, MOVE); a small per-message prefix holds
//     what differs (Received, Return-Path). A blob is deleted with its last
//     reference.
//   - Every message record has its key in the MODSEQ index (mailbox, MODSEQ,
//     UID; modseqindex.go), written in the same transaction, so
//     ChangedSince reads what changed, not the mailbox. Stores older than
//     the index are indexed once when opened.
//   - Slices read from bbolt are copied before a transaction ends.
//
// # The contract
//
// What the front-ends rely on, kept by this bbolt store and by every other
// backend (store/pgstore, on PostgreSQL), and checked for each by the same
// conformance suite (store/storetest.Run):
//
//   - Durability: a write method that returns nil has made its change
//     durable (committed and synced); SMTP's 250 comes after it. One that
//     returns an error changed nothing.
//   - UIDs are given in increasing order within a mailbox and never reused,
//     even after an expunge. UIDVALIDITY and the MailboxID are new for every
//     mailbox creation, so a mailbox deleted and made again is seen as new.
//     A rename keeps both.
//   - MODSEQ increases per mailbox with every change that is announced; a
//     write that changes nothing (a flag already set) does not move it.
//   - Change events (Watch) for a mailbox come in commit order, after the
//     commit, each with its mailbox's MODSEQ after the change: Watch
//     returns a snapshot as of one point in commit order, then the
//     callback gets every change committed after that point exactly once,
//     whichever node or connection made it. The calls are one at a time
//     and never on the goroutine that called Watch (they may begin before
//     it returns): a caller holds the lock its callback takes from before
//     Watch until the snapshot is installed, and keeps no buffer of its
//     own. The callback must be quick and must not write to the store.
//   - Message contents are read by range (ReadRange, ReadRaw's Content):
//     a partial fetch of a large message does not load all of it. The bytes
//     of one delivery are stored once, whatever the number of recipients,
//     COPYs and MOVEs.
//   - Passwords are argon2id hashes (HashPassword, CheckPassword), the same
//     in every backend, so accounts can move between them.
//   - Errors are the package's sentinel errors (ErrNoAccount, ErrNoMailbox,
//     ErrNoMessage, ...), wrapped with context: test them with errors.Is.
package store
