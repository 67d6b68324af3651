package store

import "errors"

// Errors the store returns; front-ends map them to protocol replies.
var (
	ErrNoAccount      = errors.New("no such account")
	ErrAccountExists  = errors.New("account already exists")
	ErrAuthFailed     = errors.New("authentication failed")
	ErrNoMailbox      = errors.New("no such mailbox")
	ErrMailboxExists  = errors.New("mailbox already exists")
	ErrNoMessage      = errors.New("no such message")
	ErrBadName        = errors.New("invalid mailbox name")
	ErrInboxProtected = errors.New("INBOX cannot be deleted")
	ErrClosed         = errors.New("store is closed")
)
