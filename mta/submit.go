package mta

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"petrel/msgtext"
	"petrel/store"
)

// Submission is a message an authenticated user sends by another way than
// SMTP: the web mail's compose form. Submit takes it down the path of
// port 587: the sender check, the recipients' routing, the completed
// header, DKIM signing, a Received field for this hop, local copies
// stored and remote ones queued.
type Submission struct {
	Account *store.Account // who is logged in; required
	From    string         // envelope sender: the account's address, a +tag form or one of its aliases
	Rcpts   []string
	Message []byte // the message, header and body; bare LF line ends are made CRLF
	// RemoteIP is the client's address and Protocol the Received field's
	// "with" keyword ("HTTP" or "HTTPS"); TLS, if set, is named in it too.
	RemoteIP net.IP
	Protocol string
	TLS      *tls.ConnectionState
	// SaveSent files a copy, flagged \Seen, in the account's Sent mailbox
	// in the same commit as the local copies.
	SaveSent bool
}

// SubmitError is a refused submission, with the reply SMTP submission
// would have given: Rcpt names the recipient it concerns, if one does.
type SubmitError struct {
	Rcpt   string
	Code   int    // e.g. 550
	Status string // enhanced status code, e.g. "5.7.1"
	Text   string
}

func (e *SubmitError) Error() string {
	return fmt.Sprintf("%d %s %s", e.Code, e.Status, e.Text)
}

// Temporary reports whether trying again later may succeed (a 4xx reply).
func (e *SubmitError) Temporary() bool { return e.Code < 500 }

// Submit sends sub as SMTP submission would: what refuses a message on
// port 587 refuses it here, as a *SubmitError. On success the message is
// stored and queued (durably) and its id, as logged, is returned.
func (m *MTA) Submit(ctx context.Context, sub Submission) (string, error) {
	id := newID()
	start := time.Now()
	code, status, text, rcpt := m.submit(ctx, id, sub)
	user := ""
	if sub.Account != nil {
		user = sub.Account.Address
	}
	level := 0
	if code >= 400 {
		level = 4
	}
	m.log.Log(ctx, slogLevel(level), "submission", "id", id, "listener", strings.ToLower(sub.Protocol), "client", sub.RemoteIP.String(),
		"user", user, "from", sub.From, "rcpts", sub.Rcpts, "size", len(sub.Message), "code", code, "reply", text, "ms", time.Since(start).Milliseconds())
	if f := m.opts.OnTransaction; f != nil {
		f(result(code))
	}
	if code >= 400 {
		return "", &SubmitError{Rcpt: rcpt, Code: code, Status: status, Text: text}
	}
	return id, nil
}

func (m *MTA) submit(ctx context.Context, id string, sub Submission) (code int, status, text, rcpt string) {
	refuse := func(code int, status, rcpt, format string, a ...any) (int, string, string, string) {
		return code, status, fmt.Sprintf(format, a...), rcpt
	}
	if sub.Account == nil {
		return refuse(530, "5.7.0", "", "Authentication required")
	}
	if _, _, err := splitAddress(sub.From); err != nil {
		return refuse(553, "5.1.7", "", "Bad sender address syntax: %v", err)
	}
	if !m.mayUseSender(sub.Account, sub.From) {
		return refuse(550, "5.7.1", "", "Sender address <%s> is not yours; send as <%s>", sub.From, sub.Account.Address)
	}
	if int64(len(sub.Message)) > m.opts.MaxMessageBytes {
		return refuse(552, "5.3.4", "", "Message too big for system (at most %d bytes)", m.opts.MaxMessageBytes)
	}
	if len(sub.Rcpts) == 0 {
		return refuse(554, "5.5.1", "", "No recipients")
	}
	if len(sub.Rcpts) > m.opts.MaxRecipients {
		return refuse(452, "4.5.3", "", "Too many recipients (at most %d)", m.opts.MaxRecipients)
	}
	var local []localRcpt
	var remote []string
	for _, to := range sub.Rcpts {
		lp, domain, err := splitAddress(to)
		if err != nil {
			return refuse(501, "5.1.3", to, "Bad recipient address syntax: %v", err)
		}
		if domain != "" && m.opts.IsLocalDomain(domain) {
			lr, e := m.lookupLocal(to, strings.ToLower(lp+"@"+domain))
			if e != nil {
				return e.Code, statusString(e.EnhancedCode), e.Message, to
			}
			local = append(local, lr)
			continue
		}
		if m.opts.Queue == nil {
			return refuse(550, "5.7.1", to, "<%s>: this server does not send mail to other domains", to)
		}
		remote = append(remote, to)
	}
	msg := msgtext.ToCRLF(sub.Message)
	if n := msgtext.CountReceived(msg); n > msgtext.MaxHops {
		return refuse(554, "5.4.6", "", "Too many hops (%d Received headers): mail loop?", n)
	}
	msg = completeHeader(msg, m.opts.Hostname, m.opts.Now())
	if m.opts.Signer != nil {
		if _, domain, err := splitAddress(sub.From); err == nil {
			if signed, err := m.opts.Signer.Sign(domain, msg); err != nil {
				m.log.Error("dkim sign", "id", id, "domain", domain, "err", err)
			} else {
				msg = signed
			}
		}
	}
	rdns := "unknown"
	if sub.RemoteIP != nil && sub.RemoteIP.IsLoopback() {
		rdns = "localhost"
	}
	proto := sub.Protocol
	if proto == "" {
		proto = "HTTP"
	}
	in := &inbound{id: id, from: sub.From, msg: msg, local: local, remote: remote, now: m.opts.Now(),
		rcv: &received{ip: sub.RemoteIP, rdns: rdns, by: m.opts.Hostname, id: id, auth: true, tlsState: sub.TLS, with: proto}}
	if sub.SaveSent {
		in.sent = sub.Account
	}
	e := m.dispatch(ctx, in)
	return e.Code, statusString(e.EnhancedCode), e.Message, ""
}

// mayUseSender is the anti-spoofing rule of submission: an authenticated
// user sends only as its own address (or a +tag form of it) or as an alias
// that names the account among its targets (never a catch-all).
func (m *MTA) mayUseSender(acct *store.Account, from string) bool {
	if from == "" || acct == nil {
		return false
	}
	addr, err := store.NormalizeAddress(from)
	if err != nil {
		return false
	}
	if addr == acct.Address || store.StripPlus(addr, m.opts.PlusSeparator) == acct.Address {
		return true
	}
	aliases, err := m.opts.Store.AliasesOf(acct.Address)
	if err != nil {
		m.log.Error("aliases of sender", "user", acct.Address, "err", err)
		return false
	}
	return slices.Contains(aliases, addr) || slices.Contains(aliases, store.StripPlus(addr, m.opts.PlusSeparator))
}

func statusString(ec [3]int) string {
	return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
}
