package webmail

import (
	"fmt"

	"petrel/store"
)

// quotaReader is the part of a store that reports an account's usage
// and limits (store.Store has it); a Store without it shows none.
type quotaReader interface {
	Quota(acct uint64) (store.Quota, error)
}

// usage is the line the folders page shows about the account's storage:
// "" when the store cannot tell.
func (s *Server) usage(sess *session) string {
	qr, ok := s.st.(quotaReader)
	if !ok {
		return ""
	}
	q, err := qr.Quota(sess.acct)
	if err != nil {
		return ""
	}
	txt := "Storage used: " + humanSize(q.Storage)
	if q.StorageLimit > 0 {
		txt += fmt.Sprintf(" of %s (%d%%)", humanSize(q.StorageLimit), q.Storage*100/q.StorageLimit)
	}
	txt += fmt.Sprintf(", %d messages", q.Messages)
	if q.MessageLimit > 0 {
		txt += fmt.Sprintf(" of %d", q.MessageLimit)
	}
	return txt + "."
}
