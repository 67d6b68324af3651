// Package srs implements the Sender Rewriting Scheme (Shevek's "Sender
// Rewriting Scheme", the Guarded scheme of Mail::SRS and libsrs2), so that
// mail Petrel forwards to another domain passes SPF there, and the bounces
// of that mail find their way back to the original sender.
//
// Forwarding a message from alice@crepes.fr, Petrel sends it with the
// envelope sender
//
//	SRS0=HHHHHH=TT=crepes.fr=alice@example.com
//
// an address of its own domain (which SPF authorizes it to use), where TT is
// the day it was made (two base32 characters, days since 1970 modulo 1024)
// and HHHHHH a keyed hash (HMAC-SHA256, base32, truncated) of the day, the
// domain and the local part. A bounce to that address is verified (hash and
// age) and sent on to alice@crepes.fr; anything else addressed to an SRS0
// address of ours, forged or too old, is refused. Forwarding a message whose
// sender is already an SRS0 address of another forwarder yields the shorter
// SRS1 form, which points back to that forwarder:
//
//	SRS1=HHHHHH=forwarder.org==HHHHHH=TT=crepes.fr=alice@example.com
//
// Hashes are computed over lower-cased fields and compared without regard
// to case, since mail systems may fold the case of local parts. The key is
// the caller's (cmd/petrel keeps it in data_dir, made on first use).
package srs
