package imap

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// clientError maps the store's errors to the replies RFC 5530 names; any
// other error is wrapped and becomes go-imap's "internal error" reply plus a
// log line.
func clientError(err error, what string) error {
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoMailbox):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrMailboxExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrBadName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, store.ErrInboxProtected):
		return no(imap.ResponseCodeCannot, "INBOX cannot be deleted")
	case errors.Is(err, store.ErrOverQuota):
		return no(imap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, store.ErrClosed):
		return no(imap.ResponseCodeUnavailable, "Server shutting down")
	}
	return fmt.Errorf("%s: %w", what, err)
}
