// Package mailio owns moving mail in and out of Petrel's store in the
// formats other mail systems use: mbox (mboxrd and mboxo, including Gmail
// Takeout's X-Gmail-Labels) and Maildir (Dovecot's Maildir++ and the
// directory-per-folder layout, with flags from the ":2," info suffix and
// keywords from dovecot-keywords).
//
// Imports keep flags and internal dates where the format has them and
// store messages with CRLF line ends, as the store and IMAP want. Exports
// write Maildir with LF line ends, as Dovecot, mutt and mbsync write it, so
// an export re-imported gives back identical bytes and flags.
//
// Messages are appended in batches (store.AppendMany): one fsync per few
// hundred messages rather than per message.
package mailio
