// Package pop3 owns Petrel's POP3 server: the connection state machine of
// RFC 1939 (AUTHORIZATION, TRANSACTION, UPDATE) with the extensions mail
// clients expect (RFC 2449 CAPA and response codes, RFC 2595 STLS, RFC 5034
// AUTH PLAIN, RFC 3206 [AUTH], [IN-USE] and [SYS/TEMP]), over petrel/store.
//
// The maildrop is the account's INBOX. The rules this package keeps:
//
//   - A session's view is fixed at login: message numbers and sizes never
//     change during it, and mail delivered meanwhile waits for the next one.
//   - A size is the exact octet count of what RETR sends, before dot-stuffing:
//     one dotWriter (dotstuff.go) both measures and sends, and a fuzz test
//     holds its output to net/textproto's DotWriter.
//   - A UIDL is the mailbox's UIDVALIDITY and the message's UID, so it is
//     stable across sessions and restarts and never reused.
//   - DELE only marks. Messages are removed by one store.Expunge in the
//     UPDATE state, after QUIT; a dropped connection removes nothing.
//   - RETR marks the message \Seen, in the background and batched, so a
//     download does not wait for one fsync per message (seen.go).
//   - One session at a time holds a maildrop (RFC 1939 section 8); the lock
//     lives in the Server, so one Server must serve every POP3 listener of
//     the process, and, with Options.Locker, also in the shared store, so
//     that it holds across the nodes serving one store.
//   - The store is reached only through the Store interface this package
//     declares (the methods it calls).
//   - No network write happens inside a store transaction: RETR copies each
//     chunk out of the transaction, then writes it.
package pop3
