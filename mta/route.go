package mta

import (
	"errors"
	"strings"

	"github.com/emersion/go-smtp"

	"petrel/srs"
	"petrel/store"
)

// lookupLocal says where mail for to, an address in a local domain (addr
// is it lower-cased), goes: an account (with or without +tag), an alias or
// catch-all, a mailing list, a list's bounce address, or, for an SRS
// address of ours, the address it decodes to. It returns the RCPT reply
// for an address that goes nowhere.
func (m *MTA) lookupLocal(to, addr string) (localRcpt, *smtp.SMTPError) {
	return m.lookupLocalDepth(to, addr, 0)
}

func (m *MTA) lookupLocalDepth(to, addr string, depth int) (localRcpt, *smtp.SMTPError) {
	lr := localRcpt{addr: to}
	local, _, _ := strings.Cut(addr, "@")
	if m.opts.SRS != nil && srs.IsSRS(local) && depth < 2 {
		orig, err := m.opts.SRS.Reverse(to)
		switch {
		case errors.Is(err, srs.ErrExpired):
			return lr, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: this forwarding address has expired", to)
		case err != nil:
			return lr, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: invalid forwarding (SRS) address", to)
		}
		_, domain, err := splitAddress(orig)
		if err != nil {
			return lr, smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "<%s>: invalid forwarding (SRS) address", to)
		}
		if m.opts.IsLocalDomain(domain) {
			olr, e := m.lookupLocalDepth(orig, strings.ToLower(orig), depth+1)
			olr.addr = to
			return olr, e
		}
		if m.opts.Queue == nil {
			return lr, smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "<%s>: this server does not send mail to other domains", to)
		}
		lr.srs = orig
		return lr, nil
	}
	res, err := m.opts.Store.ResolveAddress(addr, m.resolveOptions())
	var ae *store.AliasError
	switch {
	case errors.Is(err, store.ErrNoAccount) && isRole(local) && depth == 0:
		return m.lookupPostmaster(to)
	case errors.Is(err, store.ErrNoAccount):
		return lr, smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "<%s>: no such user here", to)
	case errors.As(err, &ae):
		m.log.Error("alias misconfigured", "rcpt", to, "err", err)
		return lr, smtpErr(550, smtp.EnhancedCode{5, 4, 6}, "<%s>: %v; the postmaster must fix it", to, ae.Err)
	case err != nil:
		m.log.Error("recipient lookup", "rcpt", to, "err", err)
		return lr, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary failure looking up <%s>, try again later", to)
	}
	if !res.Aliased && len(res.Accounts) == 1 && len(res.Lists) == 0 && res.Bounces == "" {
		lr.account = &res.Accounts[0]
		return lr, nil
	}
	if len(res.Accounts)+len(res.Lists)+len(res.Remote) == 0 && res.Bounces == "" {
		m.log.Warn("alias leads nowhere", "rcpt", to, "unknown", res.Unknown)
		return lr, smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "<%s>: no such user here", to)
	}
	if len(res.Remote) > 0 && m.opts.Queue == nil {
		m.log.Warn("alias forwards to other domains, but there is no queue", "rcpt", to, "remote", res.Remote)
	}
	lr.res = res
	return lr, nil
}

func (m *MTA) resolveOptions() store.ResolveOptions {
	return store.ResolveOptions{PlusSeparator: m.opts.PlusSeparator, IsLocal: m.opts.IsLocalDomain}
}

// isRole reports whether a local part is one that every mail domain must
// have: postmaster (RFC 5321 4.5.1) and abuse (RFC 2142).
func isRole(local string) bool {
	return strings.EqualFold(local, "postmaster") || strings.EqualFold(local, "abuse")
}

// lookupPostmaster routes to, a postmaster@ or abuse@ address of a local
// domain that no account, alias or catch-all takes (or "postmaster" alone),
// to the postmaster: Options.Postmaster, or else the first account made.
// The postmaster is an address of a local domain, so this opens no door
// to other domains that the admin did not make.
func (m *MTA) lookupPostmaster(to string) (localRcpt, *smtp.SMTPError) {
	addr := m.opts.Postmaster
	if addr == "" {
		first, err := m.firstAccount()
		if err != nil {
			m.log.Error("postmaster lookup", "rcpt", to, "err", err)
			return localRcpt{addr: to}, smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary failure looking up <%s>, try again later", to)
		}
		if first == "" {
			return localRcpt{addr: to}, smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "<%s>: this server has no account yet to take the postmaster's mail", to)
		}
		addr = first
	}
	if !m.opts.IsLocalDomain(domainOf(addr)) {
		m.log.Error("the postmaster is not an address of a local domain", "postmaster", addr)
		return localRcpt{addr: to}, smtpErr(451, smtp.EnhancedCode{4, 3, 5}, "The postmaster's address is misconfigured here, try again later")
	}
	lr, e := m.lookupLocalDepth(to, strings.ToLower(addr), 1)
	lr.addr, lr.role = to, lr.account != nil
	if e != nil && e.Code >= 500 {
		m.log.Error("the postmaster address goes nowhere", "postmaster", addr, "rcpt", to, "reply", e.Message)
		return lr, smtpErr(451, smtp.EnhancedCode{4, 3, 5}, "The postmaster's address is misconfigured here, try again later")
	}
	return lr, e
}

// firstAccount is the address of the account made first, "" when there
// is none.
func (m *MTA) firstAccount() (string, error) {
	accts, err := m.opts.Store.Accounts()
	if err != nil {
		return "", err
	}
	first := -1
	for i, a := range accts {
		if first < 0 || a.Created.Before(accts[first].Created) || a.Created.Equal(accts[first].Created) && a.ID < accts[first].ID {
			first = i
		}
	}
	if first < 0 {
		return "", nil
	}
	return accts[first].Address, nil
}
