package mta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/store"
)

// listPost is one message expanded by a list: the copies of its local
// members, stored in one commit, and those of its other members (remote,
// or local addresses that are not plain accounts), queued in one.
type listPost struct {
	list   *store.List
	local  *store.Delivery
	remote []string
	msgs   [][]byte
}

// listBounce is a message to a list's bounce address.
type listBounce struct{ list, rcpt string }

// planList expands the message for the list at addr (reached through
// rcpt), or says why not: a loop, the DMARC policy of its author, the
// list's posting policy.
func (m *MTA) planList(ctx context.Context, in *inbound, rcpt, addr string, p *plan) *Failure {
	fail := func(code int, ec smtp.EnhancedCode, format string, a ...any) *Failure {
		return &Failure{Rcpt: rcpt, Reply: smtpErr(code, ec, format, a...)}
	}
	l, err := m.opts.Store.MailingList(addr)
	if err != nil {
		return fail(550, smtp.EnhancedCode{5, 1, 1}, "<%s>: no such list here", rcpt)
	}
	id := listID(l.Address)
	if slices.Contains(listIDs(in.msg), id) {
		return fail(554, smtp.EnhancedCode{5, 4, 6}, "<%s>: mail loop: this message already went through the list %s (List-Id <%s>), so it is not sent to the list again", rcpt, l.Address, id)
	}
	if in.noForward {
		f := fail(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: not sent to the list: the message fails the DMARC policy (p=reject) of its author's domain", rcpt)
		f.dmarc = true
		return f
	}
	members, err := m.opts.Store.Members(l.Address)
	if err != nil {
		m.log.Error("list members", "list", l.Address, "err", err)
		return fail(451, smtp.EnhancedCode{4, 3, 0}, "<%s>: temporary failure reading the list, try again later", rcpt)
	}
	if poster, ok := m.mayPost(l, members, in); !ok {
		who := "members"
		if l.Post == store.PostModerators {
			who = "its moderators"
		}
		return fail(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: only %s may post to this list, and <%s> is not one of them", rcpt, who, poster)
	}
	body := listBody(l, in.msg)
	bounces := store.BounceAddress(l.Address)
	lp := &listPost{list: l, local: &store.Delivery{Body: body, Date: in.now}}
	for _, mb := range members {
		if mb.Disabled {
			continue
		}
		fields := m.memberFields(l, mb.Address)
		if acct := m.plainAccount(mb.Address); acct != nil {
			var pfx bytes.Buffer
			fmt.Fprintf(&pfx, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", bounces, mb.Address)
			if in.rcv != nil {
				pfx.Write(in.rcv.header(mb.Address, in.now))
			}
			pfx.Write(fields)
			lp.local.Targets = append(lp.local.Targets, store.Target{Account: acct.ID, Prefix: pfx.Bytes()})
			continue
		}
		if m.opts.Queue == nil {
			m.log.Error("list member not sent to: no queue", "list", l.Address, "member", mb.Address)
			continue
		}
		var hdr []byte
		if in.rcv != nil {
			hdr = in.rcv.header(mb.Address, in.now)
		}
		msg := make([]byte, 0, len(hdr)+len(fields)+len(body))
		msg = append(append(append(msg, hdr...), fields...), body...)
		if m.opts.Signer != nil {
			// RFC 8058 section 4: the one-click fields must be signed.
			if signed, err := m.opts.Signer.Sign(domainOf(l.Address), msg); err != nil {
				m.log.Warn("dkim sign list copy", "list", l.Address, "err", err)
			} else {
				msg = signed
			}
		}
		lp.remote = append(lp.remote, mb.Address)
		lp.msgs = append(lp.msgs, msg)
	}
	p.lists = append(p.lists, lp)
	return nil
}

// plainAccount is the account a member address is, when it is simply one
// (with or without +tag); nil for remote addresses, aliases and lists,
// whose copies go through the queue.
func (m *MTA) plainAccount(addr string) *store.Account {
	if !m.opts.IsLocalDomain(domainOf(addr)) {
		return nil
	}
	res, err := m.opts.Store.ResolveAddress(addr, m.resolveOptions())
	if err != nil || res.Aliased || len(res.Accounts) != 1 || len(res.Lists) > 0 || res.Bounces != "" {
		return nil
	}
	return &res.Accounts[0]
}

// mayPost applies the list's posting policy to the envelope sender and
// the From addresses, a +tag making no difference; it returns the poster
// named in a refusal.
func (m *MTA) mayPost(l *store.List, members []store.Member, in *inbound) (string, bool) {
	var who []string
	if in.from != "" {
		who = append(who, strings.ToLower(in.from))
		// Another list's post comes from LIST-bounces@DOMAIN (Petrel's
		// and Mailman's convention): a list that is a member may post.
		if local, domain, ok := strings.Cut(strings.ToLower(in.from), "@"); ok && strings.HasSuffix(local, "-bounces") {
			who = append(who, strings.TrimSuffix(local, "-bounces")+"@"+domain)
		}
	}
	for _, v := range fieldValues(in.msg, "From") {
		if as, err := mail.ParseAddressList(v); err == nil {
			for _, a := range as {
				who = append(who, strings.ToLower(a.Address))
			}
		}
	}
	if l.Post == store.PostAnyone {
		return "", true
	}
	poster := "<>"
	if len(who) > 0 {
		poster = who[len(who)-1] // the author, when there is a From
	}
	sep := m.opts.PlusSeparator
	allowed := map[string]bool{}
	for _, a := range l.Moderators {
		allowed[store.StripPlus(a, sep)] = true
	}
	if l.Post != store.PostModerators {
		for _, mb := range members {
			allowed[store.StripPlus(mb.Address, sep)] = true
		}
	}
	for _, w := range who {
		if allowed[store.StripPlus(w, sep)] {
			return "", true
		}
	}
	return poster, false
}

// listID is the List-Id of a list (RFC 2919): its address with the @ made
// a dot.
func listID(addr string) string { return strings.Replace(addr, "@", ".", 1) }

// listIDs returns the List-Ids the message already carries.
func listIDs(msg []byte) []string {
	var out []string
	for _, v := range fieldValues(msg, "List-Id") {
		if i := strings.LastIndexByte(v, '<'); i >= 0 {
			if j := strings.IndexByte(v[i:], '>'); j > 0 {
				out = append(out, strings.ToLower(v[i+1:i+j]))
				continue
			}
		}
		out = append(out, strings.ToLower(strings.TrimSpace(v)))
	}
	return out
}

// listBody is the message as the list sends it to every member: its
// List-Id (another list's stays, for loop detection), List-Post,
// List-Archive, Precedence and, under ReplyToList, Reply-To on top, and
// any other list's List-* fields removed.
func listBody(l *store.List, msg []byte) []byte {
	drop := []string{"List-Post", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Archive", "List-Help", "List-Subscribe", "List-Owner", "Precedence"}
	if l.ReplyTo == store.ReplyToList {
		drop = append(drop, "Reply-To")
	}
	msg = stripFields(msg, drop...)
	var h bytes.Buffer
	fmt.Fprintf(&h, "List-Id: <%s>\r\n", listID(l.Address))
	if l.Post == store.PostModerators {
		h.WriteString("List-Post: NO\r\n")
	} else {
		fmt.Fprintf(&h, "List-Post: <mailto:%s>\r\n", l.Address)
	}
	if l.Archive != "" {
		fmt.Fprintf(&h, "List-Archive: <%s>\r\n", l.Archive)
	}
	h.WriteString("Precedence: list\r\n")
	if l.ReplyTo == store.ReplyToList {
		fmt.Fprintf(&h, "Reply-To: <%s>\r\n", l.Address)
	}
	out := make([]byte, 0, h.Len()+len(msg))
	return append(append(out, h.Bytes()...), msg...)
}

// memberFields are the fields of one member's copy: List-Unsubscribe with
// the member's own one-click URL (RFC 2369, RFC 8058).
func (m *MTA) memberFields(l *store.List, member string) []byte {
	if m.opts.UnsubscribeURL == nil {
		return nil
	}
	u := m.opts.UnsubscribeURL(l.Address, member)
	return []byte("List-Unsubscribe: <" + u + ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
}

// queueListCopies queues the copies of a list's other members, in one
// commit when the queue can.
func (m *MTA) queueListCopies(ctx context.Context, in *inbound, lp *listPost) error {
	if len(lp.remote) == 0 {
		return nil
	}
	from := store.BounceAddress(lp.list.Address)
	if bq, ok := m.opts.Queue.(BatchQueue); ok {
		_, err := bq.EnqueueEach(ctx, from, lp.remote, lp.msgs)
		return err
	}
	for i, r := range lp.remote {
		if _, err := m.opts.Queue.Enqueue(ctx, from, []string{r}, lp.msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// recordListBounce counts a bounce report to a list's bounce address
// against the members it names as failed, and tells a member that this
// disables.
func (m *MTA) recordListBounce(ctx context.Context, in *inbound, b listBounce) {
	failed := failedRecipients(in.msg)
	if len(failed) == 0 {
		m.log.Info("mail to a list's bounce address that reports no failed recipient; dropped", "id", in.id, "list", b.list, "from", in.from)
		return
	}
	for _, r := range failed {
		disabled, err := m.opts.Store.RecordBounce(ctx, b.list, r, in.now, m.opts.ListBounceDays)
		if errors.Is(err, store.ErrNoMember) {
			m.log.Info("bounce for an address not on the list", "id", in.id, "list", b.list, "rcpt", r)
			continue
		}
		if err != nil {
			m.log.Error("record list bounce", "id", in.id, "list", b.list, "rcpt", r, "err", err)
			continue
		}
		m.log.Info("list member bounced", "id", in.id, "list", b.list, "member", r, "disabled", disabled)
		if disabled {
			m.notifyDisabled(ctx, b.list, r)
		}
	}
}

// notifyDisabled tells a member that the list no longer sends it mail.
// It goes from the null sender, so that it cannot bounce back.
func (m *MTA) notifyDisabled(ctx context.Context, list, member string) {
	if m.opts.Queue == nil {
		return
	}
	now := m.opts.Now()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mailing list %s <%s>\r\n", list, store.BounceAddress(list))
	fmt.Fprintf(&b, "To: <%s>\r\n", member)
	fmt.Fprintf(&b, "Subject: You no longer get the mail of %s\r\n", list)
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", newID(), m.opts.Hostname)
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Mail from the list %s to <%s> bounced on %d days,\r\n", list, member, m.opts.ListBounceDays)
	b.WriteString("so the list has stopped sending you its mail. You are still a member:\r\n")
	b.WriteString("once your mailbox takes mail again, ask the list's owner to enable you\r\n")
	fmt.Fprintf(&b, "(petrel list add %s %s).\r\n", list, member)
	if _, err := m.opts.Queue.Enqueue(ctx, "", []string{member}, b.Bytes()); err != nil {
		m.log.Error("notify disabled list member", "list", list, "member", member, "err", err)
	}
}

// DeliverLocal delivers a message the queue holds for a local address (a
// DSN to a local sender, to an SRS address or to a list's bounce address;
// a list's copy for a member that is an alias or another list), routed as
// mail from port 25 is, without its checks. It implements
// queue.LocalDeliverer: an *smtp.SMTPError with a 5xx code is permanent.
func (m *MTA) DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error {
	local, domain, err := splitAddress(rcpt)
	if err != nil {
		return smtpErr(550, smtp.EnhancedCode{5, 1, 3}, "<%s>: %v", rcpt, err)
	}
	lr, serr := m.lookupLocal(rcpt, strings.ToLower(local+"@"+domain))
	if serr != nil {
		return serr
	}
	in := &inbound{id: newID(), from: from, msg: msg, local: []localRcpt{lr}, now: m.opts.Now()}
	if reply := m.dispatch(ctx, in); reply.Code >= 400 {
		return reply
	}
	return nil
}
