package mta

import (
	"github.com/emersion/go-smtp"

	"petrel/store"
)

// Quotas at delivery (RFC 5321 4.2.2/4.5.3.1.10, RFC 3463 X.2.2), the way
// Postfix and Dovecot's LMTP answer: a recipient whose account is full
// already is refused at RCPT with a temporary 452 4.2.2 (it may be
// emptied; the sender's queue tries again, and the other recipients are
// accepted), as is one whose account cannot take the SIZE the client
// declared at MAIL (552 5.2.2 when it exceeds the whole limit). At DATA a
// recipient whose account the message would take past a limit gets 552
// 5.2.2: the reply to DATA if no recipient takes the message, else a DSN.
// The copy filed in the sender's own Sent mailbox is never refused.

func mailboxFull(rcpt string) *smtp.SMTPError {
	return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "<%s>: mailbox full, try again later", rcpt)
}

func overQuota(rcpt string) *smtp.SMTPError {
	return smtpErr(552, smtp.EnhancedCode{5, 2, 2}, "<%s>: mailbox full: the message exceeds its quota", rcpt)
}

// quota returns an account's quota; a failure to read it refuses nothing.
func (m *MTA) quota(acct uint64) (store.Quota, bool) {
	q, err := m.opts.Store.Quota(acct)
	if err != nil {
		m.log.Warn("quota unknown", "account", acct, "err", err)
		return q, false
	}
	return q, true
}

// quotaAtRcpt is the refusal at RCPT of a recipient whose accounts
// (one, or an alias's when it goes nowhere else) are all full, or cannot
// take the declared size; nil accepts it.
func (m *MTA) quotaAtRcpt(lr localRcpt, declared int64) *smtp.SMTPError {
	var ids []uint64
	switch {
	case lr.account != nil:
		ids = []uint64{lr.account.ID}
	case lr.res != nil && lr.srs == "" && len(lr.res.Remote) == 0 && len(lr.res.Lists) == 0 && lr.res.Bounces == "":
		for _, a := range lr.res.Accounts {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var refuse *smtp.SMTPError
	for _, id := range ids {
		q, ok := m.quota(id)
		switch {
		case !ok:
			return nil
		case q.Full():
			refuse = mailboxFull(lr.addr)
		case declared > 0 && q.StorageLimit > 0 && declared > q.StorageLimit:
			refuse = overQuota(lr.addr)
		case declared > 0 && !q.Fits(declared, 1):
			refuse = mailboxFull(lr.addr)
		default:
			return nil // one account takes it
		}
	}
	m.overQuota("smtp-rcpt")
	return refuse
}

// fitsQuota reports whether a copy of size bytes fits in the account.
func (m *MTA) fitsQuota(acct uint64, size int) bool {
	q, ok := m.quota(acct)
	if !ok || q.Fits(int64(size), 1) {
		return true
	}
	m.overQuota("smtp-data")
	return false
}

func (m *MTA) overQuota(where string) {
	if f := m.opts.OnOverQuota; f != nil {
		f(where)
	}
}
