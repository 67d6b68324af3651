package mta

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"

	"petrel/store"
)

// JunkFilter is the junk classifier the MTA asks before filing mail in
// local accounts (package junk, adapted in cmd/petrel).
type JunkFilter interface {
	// JunkVerdicts judges msg for each of accounts; id names the message
	// in its log lines. It returns one verdict per account, in order.
	JunkVerdicts(ctx context.Context, id string, msg io.Reader, accounts []uint64) []JunkVerdict
	// Trust records addresses the account's user wrote to as trusted
	// senders (durably, before it returns nil).
	Trust(ctx context.Context, account uint64, addrs []string) error
}

// JunkVerdict is the classifier's verdict for one account.
type JunkVerdict struct {
	Junk   bool   // file in the account's Junk mailbox
	Header string // a header line (with CRLF) put on that account's copy; may be ""
}

// junkField is our verdict header: with a JunkFilter, a message arriving
// with one is stripped of it (dispatch), so that only ours is ever seen.
const junkField = "X-Petrel-Junk"

// judgeJunk asks the junk filter about the copies of body going to
// targets, and files each as its verdict says. Copies already bound for
// Junk (DMARC quarantine) are not judged.
func (m *MTA) judgeJunk(ctx context.Context, id string, body []byte, targets []store.Target) {
	if m.opts.Junk == nil {
		return
	}
	var accts []uint64
	var idx []int
	for i, tg := range targets {
		if !tg.Junk {
			accts = append(accts, tg.Account)
			idx = append(idx, i)
		}
	}
	if len(accts) == 0 {
		return
	}
	// One tokenization for all: the copies differ only in their
	// Delivered-To and Received "for", which the classifier ignores.
	msg := io.MultiReader(bytes.NewReader(targets[idx[0]].Prefix), bytes.NewReader(body))
	for k, v := range m.opts.Junk.JunkVerdicts(ctx, id, msg, accts) {
		if k >= len(idx) {
			break
		}
		tg := &targets[idx[k]]
		if v.Header != "" {
			tg.Prefix = slices.Concat(tg.Prefix, []byte(v.Header))
		}
		tg.Junk = tg.Junk || v.Junk
	}
}

// rcpts are the message's recipients' addresses, lower-cased.
func (in *inbound) rcpts() []string {
	out := make([]string, 0, len(in.local)+len(in.remote))
	for _, lr := range in.local {
		out = append(out, strings.ToLower(lr.addr))
	}
	for _, r := range in.remote {
		out = append(out, strings.ToLower(r))
	}
	return out
}

// trustRecipients records the recipients of mail the user sent (when no
// Sent copy did it in the delivery's commit). A failure is logged: the
// message has gone, only the learning is lost.
func (m *MTA) trustRecipients(ctx context.Context, in *inbound) {
	if err := m.opts.Junk.Trust(ctx, in.sender.ID, in.rcpts()); err != nil {
		m.log.Warn("junk: recording the recipients as trusted", "id", in.id, "account", in.sender.Address, "err", err)
	}
}
