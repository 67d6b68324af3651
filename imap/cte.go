package imap

import (
	"errors"

	"petrel/search"
)

// decodeCTE undoes a Content-Transfer-Encoding (package search's), with
// RFC 3516's UNKNOWN-CTE for an encoding it does not know.
func decodeCTE(raw []byte, enc string) ([]byte, error) {
	b, err := search.DecodeCTE(raw, enc)
	if errors.Is(err, search.ErrUnknownCTE) {
		return nil, errUnknownCTE
	}
	return b, err
}
