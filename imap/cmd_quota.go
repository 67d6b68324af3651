package imap

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

// QUOTA (RFC 9208) with the STORAGE and MESSAGE resources. Each account
// is one quota root, named "", holding all its mailboxes; its limits are
// set by the administrator (`petrel user quota`), so SETQUOTA is refused
// and QUOTASET not advertised. A root without any limit does not exist:
// the grammar has no way to say "unlimited" (RFC 9208 9: a quota-list
// holds at least one resource), so GETQUOTAROOT then names no root.

// quotaRoot is the name of an account's only quota root.
const quotaRoot = ""

// quotaCaps are the capabilities of this file.
var quotaCaps = []string{"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"}

// kib is a byte count in STORAGE's units of 1024 octets, rounded up.
func kib(n int64) int64 { return (n + 1023) / 1024 }

// writeQuota writes the QUOTA response of the account's root.
func (s *session) writeQuota(q store.Quota) {
	e := &s.e
	e.raw("* QUOTA ").str(quotaRoot).raw(" (")
	sep := ""
	if q.StorageLimit > 0 {
		e.raw("STORAGE ").num64(kib(q.Storage)).sp().num64(kib(q.StorageLimit))
		sep = " "
	}
	if q.MessageLimit > 0 {
		e.raw(sep).raw("MESSAGE ").num64(q.Messages).sp().num64(q.MessageLimit)
	}
	e.byte(')').crlf()
}

func hasLimit(q store.Quota) bool { return q.StorageLimit > 0 || q.MessageLimit > 0 }

// cmdGetQuota answers GETQUOTA root (RFC 9208 4.2).
func (s *session) cmdGetQuota(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	root, err := p.astring()
	if err != nil {
		return err
	}
	if err := p.crlf(); err != nil {
		return err
	}
	q, err := s.srv.opts.Store.Quota(s.acct.ID)
	if err != nil {
		return clientError(err, "getquota")
	}
	if root != quotaRoot || !hasLimit(q) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such quota root"}
	}
	s.writeQuota(q)
	return nil
}

// cmdGetQuotaRoot answers GETQUOTAROOT mailbox (RFC 9208 4.3).
func (s *session) cmdGetQuotaRoot(c *cmd) error {
	name, err := c.p.spMailbox()
	if err != nil {
		return err
	}
	if err := c.p.crlf(); err != nil {
		return err
	}
	mb, err := s.srv.opts.Store.MailboxByName(s.acct.ID, name)
	if err != nil {
		return clientError(err, "getquotaroot")
	}
	q, err := s.srv.opts.Store.Quota(s.acct.ID)
	if err != nil {
		return clientError(err, "getquotaroot")
	}
	s.e.raw("* QUOTAROOT ").mailbox(mb.Name)
	if hasLimit(q) {
		s.e.sp().str(quotaRoot).crlf()
		s.writeQuota(q)
	} else {
		s.e.crlf()
	}
	return nil
}

// cmdSetQuota parses SETQUOTA (RFC 9208 4.1) and refuses it: limits are
// the administrator's.
func (s *session) cmdSetQuota(c *cmd) error {
	p := c.p
	if err := p.sp(); err != nil {
		return err
	}
	if _, err := p.astring(); err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	err := p.list(true, func() error {
		if _, err := p.atom(); err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
		_, err := p.number64()
		return err
	})
	if err != nil {
		return err
	}
	if err := p.crlf(); err != nil {
		return err
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "Quotas are set by the administrator"}
}

// noteOverQuota counts a refusal for the quota (Options.OnOverQuota).
func (s *session) noteOverQuota(err error, where string) {
	if f := s.srv.opts.OnOverQuota; f != nil && errors.Is(err, store.ErrOverQuota) {
		f(where)
	}
}

// deletedStorage is STATUS DELETED-STORAGE (RFC 9208 4.4): the octets
// an EXPUNGE would free, in units of 1024.
func (s *session) deletedStorage(mb *store.Mailbox) (int64, error) {
	if mb.Deleted == 0 {
		return 0, nil
	}
	msgs, err := s.srv.opts.Store.List(mb.ID)
	if err != nil {
		return 0, err
	}
	var n int64
	for i := range msgs {
		if msgs[i].Has(store.FlagDeleted) {
			n += msgs[i].Size
		}
	}
	return kib(n), nil
}
