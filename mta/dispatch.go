package mta

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/store"
)

// inbound is one accepted message on its way to its recipients, from an
// SMTP session (session.accept) or from the queue (DeliverLocal).
type inbound struct {
	id         string
	from       string
	msg        []byte    // checked (and, from submission, completed and signed)
	rcv        *received // this hop's Received header; nil adds none
	authHeader []byte
	junk       bool // to the Junk mailbox
	noForward  bool // failed DMARC p=reject: local mailboxes only
	noBounce   bool // the sender failed SPF or DMARC: no DSN to it
	local      []localRcpt
	remote     []string
	sent       *store.Account // file a copy in this account's Sent
	sender     *store.Account // the authenticated author (submission): trusts its recipients
	now        time.Time
}

// plan is everything one message turns into, worked out before anything
// is written, so that a message refused for all its recipients leaves no
// trace.
type plan struct {
	targets  []store.Target // copies of the message itself
	accounts map[uint64]bool
	queued   []envelope // forwards and SRS bounces, each its own queue entry
	lists    []*listPost
	bounces  []listBounce
	failed   []Failure
	// refuse is the first failure that refuses the whole message: a loop,
	// or a list that will not take it. Known before anything is written,
	// it is the reply to DATA, so that the client has the error and no
	// DSN is sent to a sender that may be forged (backscatter).
	refuse *Failure
	ok     int // recipients that go somewhere
	// quotaFailed are accounts an alias reaches whose quota the message
	// would pass, while it went to the alias's other targets: bounced
	// (DSN), but the recipient counts as taking the message.
	quotaFailed []Failure
}

type envelope struct {
	from  string
	rcpts []string
	msg   []byte
}

// dispatch queues, stores, forwards and expands in, and returns the reply
// to DATA. Remote copies are queued before local ones are stored (see
// docs/architecture.md).
func (m *MTA) dispatch(ctx context.Context, in *inbound) *smtp.SMTPError {
	p := &plan{accounts: map[uint64]bool{}}
	if m.opts.Junk != nil {
		in.msg = stripFields(in.msg, junkField) // only our verdict is ever seen
	}
	delivered := deliveredTo(in.msg)
	for _, lr := range in.local {
		if lr.account != nil && !lr.role {
			p.accounts[lr.account.ID] = true
		}
	}
	for _, lr := range in.local {
		n := len(p.failed)
		m.planRcpt(ctx, in, lr, delivered, p)
		if len(p.failed) == n {
			p.ok++
		}
	}
	if p.refuse != nil {
		return p.refuse.Reply
	}
	if p.ok == 0 && len(in.remote) == 0 {
		return p.failed[0].Reply
	}
	fail := func(what string, err error) *smtp.SMTPError {
		m.log.Error(what, "id", in.id, "err", err)
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing, try again later")
	}
	// Remote recipients: queued with this hop's Received header.
	if len(in.remote) > 0 {
		for_ := ""
		if len(in.remote) == 1 {
			for_ = in.remote[0]
		}
		qid, err := m.opts.Queue.Enqueue(ctx, in.from, in.remote, in.withReceived(for_, in.msg))
		if err != nil {
			return fail("enqueue", err)
		}
		m.log.Info("queued", "id", in.id, "queue_id", qid, "rcpts", len(in.remote))
	}
	for _, e := range p.queued {
		qid, err := m.opts.Queue.Enqueue(ctx, e.from, e.rcpts, e.msg)
		if err != nil {
			return fail("enqueue forward", err)
		}
		m.log.Info("forwarded", "id", in.id, "queue_id", qid, "from", e.from, "rcpts", e.rcpts)
	}
	for _, lp := range p.lists {
		if err := m.queueListCopies(ctx, in, lp); err != nil {
			return fail("enqueue list copies", err)
		}
	}
	copies := 0
	m.judgeJunk(ctx, in.id, in.msg, p.targets)
	if len(p.targets) > 0 || in.sent != nil {
		d := &store.Delivery{Body: in.msg, Date: in.now}
		if in.sent != nil {
			// The sender's copy, as it left: no Received or Return-Path.
			tg := store.Target{Account: in.sent.ID, Mailbox: "Sent", Flags: []string{`\Seen`}}
			if in.sender != nil {
				tg.Contacts = in.rcpts() // trusted senders now, in the same commit
			}
			d.Targets = append(d.Targets, tg)
		}
		d.Targets = append(d.Targets, p.targets...)
		if _, err := m.opts.Store.Deliver(ctx, d); err != nil {
			return fail("deliver", err)
		}
		copies += len(d.Targets)
	}
	for _, lp := range p.lists {
		if len(lp.local.Targets) == 0 {
			continue
		}
		m.judgeJunk(ctx, in.id, lp.local.Body, lp.local.Targets)
		if _, err := m.opts.Store.Deliver(ctx, lp.local); err != nil {
			return fail("deliver list copies", err)
		}
		copies += len(lp.local.Targets)
		m.log.Info("list expanded", "id", in.id, "list", lp.list.Address, "local", len(lp.local.Targets), "remote", len(lp.remote))
	}
	if in.sender != nil && in.sent == nil {
		m.trustRecipients(ctx, in)
	}
	if f := m.opts.OnDelivered; f != nil && copies > 0 {
		f(copies, int64(len(in.msg)))
	}
	for _, b := range p.bounces {
		m.recordListBounce(ctx, in, b)
	}
	if failed := append(p.failed, p.quotaFailed...); len(failed) > 0 {
		m.bounce(ctx, in, failed)
	}
	return queuedReply(in.id)
}

// planRcpt works out where the message goes for one local recipient.
func (m *MTA) planRcpt(ctx context.Context, in *inbound, lr localRcpt, delivered []string, p *plan) {
	addr := strings.ToLower(lr.addr)
	switch {
	case lr.account != nil:
		dt := addr
		if n, err := store.NormalizeAddress(lr.addr); err == nil {
			dt = n
		}
		if loopedTo(delivered, dt, lr.account.Address) {
			p.refuseAll(lr.addr, smtpErr(554, smtp.EnhancedCode{5, 4, 6}, "<%s>: mail loop: this message was already delivered to %s here", lr.addr, dt))
			return
		}
		if lr.role {
			if p.accounts[lr.account.ID] {
				return // the postmaster has its copy already
			}
			p.accounts[lr.account.ID] = true
		}
		tg := in.target(lr.account, lr.addr, dt, "")
		if !m.fitsQuota(lr.account.ID, len(tg.Prefix)+len(in.msg)) {
			p.failed = append(p.failed, Failure{Rcpt: lr.addr, Reply: overQuota(lr.addr)})
			return
		}
		p.targets = append(p.targets, tg)
	case lr.srs != "":
		// A bounce (or reply) to an address we rewrote: on to the sender.
		p.queued = append(p.queued, envelope{from: m.forwardSender(in.from, domainOf(lr.addr)), rcpts: []string{lr.srs}, msg: in.withReceived(lr.addr, in.msg)})
	case lr.res.Bounces != "":
		p.bounces = append(p.bounces, listBounce{list: lr.res.Bounces, rcpt: lr.addr})
	default:
		res := lr.res
		if loopedTo(delivered, addr) {
			p.refuseAll(lr.addr, smtpErr(554, smtp.EnhancedCode{5, 4, 6}, "<%s>: mail forwarding loop: this message already went through %s here", lr.addr, addr))
			return
		}
		// went says the message goes somewhere for this recipient.
		went := false
		var why, full *Failure
		var overAccts []Failure
		for i := range res.Accounts {
			a := &res.Accounts[i]
			if p.accounts[a.ID] {
				went = true
				continue
			}
			tg := in.target(a, lr.addr, a.Address, addr)
			if !m.fitsQuota(a.ID, len(tg.Prefix)+len(in.msg)) {
				m.log.Warn("not delivered: over quota", "id", in.id, "rcpt", lr.addr, "account", a.Address)
				full = &Failure{Rcpt: lr.addr, Reply: overQuota(lr.addr)}
				overAccts = append(overAccts, Failure{Rcpt: a.Address, Reply: overQuota(a.Address)})
				continue
			}
			p.accounts[a.ID] = true
			p.targets = append(p.targets, tg)
			went = true
		}
		if len(res.Remote) > 0 {
			switch {
			case in.noForward:
				m.log.Warn("not forwarded: the message fails DMARC of a domain with p=reject", "id", in.id, "rcpt", lr.addr, "remote", res.Remote)
				why = &Failure{Rcpt: lr.addr, dmarc: true, Reply: smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: not forwarded: the message fails the DMARC policy (p=reject) of its author's domain", lr.addr)}
			case m.opts.Queue == nil:
				m.log.Error("not forwarded: no queue", "id", in.id, "rcpt", lr.addr, "remote", res.Remote)
				why = &Failure{Rcpt: lr.addr, Reply: smtpErr(550, smtp.EnhancedCode{5, 3, 0}, "<%s>: this server does not send mail to other domains", lr.addr)}
			default:
				msg := in.withReceived(lr.addr, append([]byte("Delivered-To: "+addr+"\r\n"), in.msg...))
				from := m.forwardSender(in.from, domainOf(addr))
				if in.noBounce {
					from = "" // no bounce of the forward may reach a sender that may be forged
				}
				p.queued = append(p.queued, envelope{from: from, rcpts: res.Remote, msg: msg})
				went = true
			}
		}
		for _, l := range res.Lists {
			if f := m.planList(ctx, in, lr.addr, l, p); f != nil {
				// An alias to a list and more: the others still get it.
				m.log.Warn("list refused a message", "id", in.id, "rcpt", lr.addr, "list", l, "reason", f.Reply.Message)
				why = f
				continue
			}
			went = true
		}
		if !went && why != nil {
			p.failed = append(p.failed, *why)
			if !why.dmarc && p.refuse == nil {
				// A loop, or a poster the list does not take: the client
				// is told, and the whole message is refused.
				p.refuse = why
			}
		} else if !went && full != nil {
			p.failed = append(p.failed, *full) // this recipient's, not the message's
		} else if went {
			p.quotaFailed = append(p.quotaFailed, overAccts...)
		}
	}
}

// refuseAll notes a failure that refuses the whole message (plan.refuse).
func (p *plan) refuseAll(rcpt string, reply *smtp.SMTPError) {
	f := Failure{Rcpt: rcpt, Reply: reply}
	p.failed = append(p.failed, f)
	if p.refuse == nil {
		p.refuse = &f
	}
}

// target is one local copy: Return-Path, Delivered-To, X-Original-To (when
// an alias led here), this hop's Received and our Authentication-Results.
func (in *inbound) target(a *store.Account, rcpt, deliveredTo, original string) store.Target {
	var p bytes.Buffer
	fmt.Fprintf(&p, "Return-Path: <%s>\r\n", in.from)
	fmt.Fprintf(&p, "Delivered-To: %s\r\n", deliveredTo)
	if original != "" {
		fmt.Fprintf(&p, "X-Original-To: %s\r\n", original)
	}
	if in.rcv != nil {
		p.Write(in.rcv.header(rcpt, in.now))
	}
	p.Write(in.authHeader)
	tg := store.Target{Account: a.ID, Prefix: p.Bytes()}
	if in.junk {
		tg.Junk = true
	}
	return tg
}

// withReceived returns msg under this hop's Received header (for rcpt, if
// not ""); msg itself when there is no Received to add.
func (in *inbound) withReceived(rcpt string, msg []byte) []byte {
	if in.rcv == nil {
		return msg
	}
	h := in.rcv.header(rcpt, in.now)
	out := make([]byte, 0, len(h)+len(msg))
	return append(append(out, h...), msg...)
}

// forwardSender is the envelope sender of mail forwarded through domain:
// the sender rewritten with SRS, unless it is null or ours already.
func (m *MTA) forwardSender(from, domain string) string {
	if from == "" || m.opts.SRS == nil {
		return from
	}
	if _, d, err := splitAddress(from); err == nil && m.opts.IsLocalDomain(d) {
		return from
	}
	s, err := m.opts.SRS.Forward(from, domain)
	if err != nil {
		m.log.Warn("srs: sender kept as it is", "from", from, "err", err)
		return from
	}
	return s
}

// bounce reports recipients refused after DATA to the sender.
func (m *MTA) bounce(ctx context.Context, in *inbound, failed []Failure) {
	for _, f := range failed {
		m.log.Warn("recipient refused after DATA", "id", in.id, "from", in.from, "rcpt", f.Rcpt, "reply", f.String())
	}
	if in.from == "" || m.opts.Bouncer == nil {
		return
	}
	if in.noBounce {
		m.log.Warn("no DSN: the sender failed SPF or DMARC, and may be forged", "id", in.id, "from", in.from)
		return
	}
	if err := m.opts.Bouncer.Bounce(ctx, in.id, in.from, failed, in.msg); err != nil {
		m.log.Error("bounce", "id", in.id, "from", in.from, "err", err)
	}
}

// deliveredTo returns the addresses of the message's Delivered-To fields,
// lower-cased.
func deliveredTo(msg []byte) []string {
	vs := fieldValues(msg, "Delivered-To")
	for i, v := range vs {
		vs[i] = strings.ToLower(strings.Trim(v, "<> "))
	}
	return vs
}

// loopedTo reports whether one of addrs is among the Delivered-To
// addresses already in the message: it came back to a recipient it was
// delivered or forwarded to here.
func loopedTo(delivered []string, addrs ...string) bool {
	for _, d := range delivered {
		for _, a := range addrs {
			if d == a {
				return true
			}
		}
	}
	return false
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// queuedReply is DATA's success: 250 naming the message's queue ID (an
// *smtp.SMTPError, as every reply of the session is one).
func queuedReply(id string) *smtp.SMTPError {
	return smtpErr(250, smtp.EnhancedCode{2, 0, 0}, "OK: queued as %s", id)
}
