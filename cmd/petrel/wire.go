package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"petrel/config"
	"petrel/dnsmx"
	"petrel/junk"
	"petrel/msgauth"
	"petrel/mta"
	"petrel/queue"
	"petrel/store"
)

// This file adapts the packages to each other: each declares the small
// interface it consumes, and here the concrete types meet.

// checker runs msgauth's SPF/DKIM/DMARC verification for the MTA.
type checker struct{ v *msgauth.Verifier }

func (c checker) Check(ctx context.Context, in mta.CheckInput) (*mta.CheckResult, error) {
	v, err := c.v.Verify(ctx, msgauth.Input{
		RemoteIP: in.RemoteIP, Helo: in.Helo, MailFrom: in.MailFrom, Message: in.Message, RcptDomains: in.RcptDomains,
	})
	if err != nil {
		return nil, err
	}
	return &mta.CheckResult{
		Message:   v.Stamp(in.Message), // our Authentication-Results on top, forged ones removed
		Reject:    v.Action == msgauth.Reject,
		Junk:      v.Action == msgauth.Quarantine,
		Reason:    v.Reason,
		Summary:   v.Summary(),
		NoForward: v.NoForward(),
		NoBounce:  v.SenderFailed(),
	}, nil
}

// signer holds the DKIM keys, reloaded after `petrel dkim keygen`.
type signer struct {
	dir string
	mu  sync.RWMutex
	s   *msgauth.Signer
}

func newSigner(dir string) (*signer, error) {
	s := &signer{dir: dir}
	return s, s.reload()
}

func (s *signer) reload() error {
	ns, err := msgauth.LoadSigner(s.dir)
	if err != nil {
		return fmt.Errorf("dkim keys in %s: %w", s.dir, err)
	}
	s.mu.Lock()
	s.s = ns
	s.mu.Unlock()
	return nil
}

func (s *signer) get() *msgauth.Signer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.s
}

func (s *signer) Sign(domain string, msg []byte) ([]byte, error) { return s.get().Sign(domain, msg) }

func (s *signer) DNSRecord(domain string) (string, bool) { return s.get().DNSRecord(domain) }

func dkimDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "dkim") }

// localDeliverer stores DSNs (and other queue-made mail) for local
// recipients.
type localDeliverer struct {
	store localStore
	cfg   *config.Config
}

func (l localDeliverer) DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error {
	acct, err := l.store.AccountByAddress(rcpt)
	if base := store.StripPlus(strings.ToLower(rcpt), l.cfg.SMTP.PlusSeparator); errors.Is(err, store.ErrNoAccount) && base != strings.ToLower(rcpt) {
		acct, err = l.store.AccountByAddress(base)
	}
	if errors.Is(err, store.ErrNoAccount) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: fmt.Sprintf("<%s>: no such user here", rcpt)}
	}
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, acct.Address)
	_, err = l.store.Deliver(ctx, &store.Delivery{Body: msg, Targets: []store.Target{{Account: acct.ID, Prefix: []byte(prefix)}}})
	return err
}

func queuePath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "queue.db") }

// openQueue opens the queue as cfg says; mods set what the config does
// not (the server's metrics hooks).
func openQueue(cfg *config.Config, st localStore, res queue.MXResolver, env *adminEnv, mods ...func(*queue.Options)) (*queue.Queue, error) {
	var retry []time.Duration
	for _, d := range cfg.Queue.Retry {
		retry = append(retry, d.Duration)
	}
	opts := queue.Options{
		Path:          queuePath(cfg),
		Hostname:      cfg.Hostname,
		Resolver:      res,
		Local:         localDeliverer{store: st, cfg: cfg},
		IsLocal:       cfg.IsLocalDomain,
		Logger:        env.log.With("svc", "queue"),
		Retry:         retry,
		MaxAge:        cfg.Queue.MaxAge.Duration,
		DelayWarning:  cfg.Queue.DelayWarning.Duration,
		RelayHost:     cfg.Queue.RelayHost,
		RelayUser:     cfg.Queue.RelayUser,
		RelayPassword: cfg.Queue.RelayPassword,
		FallbackRelay: cfg.Queue.FallbackRelay,
		PerDomain:     cfg.Queue.ConnectionsPerDomain,
		Port:          cfg.Queue.Port,
		Global:        cfg.Queue.MaxConnections,
	}
	for _, mod := range mods {
		mod(&opts)
	}
	q, err := queue.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", queuePath(cfg), err)
	}
	return q, nil
}

// newDNS makes the resolvers: dnsmx for MX lookups, and a *net.Resolver
// on the same server for SPF/DKIM/DMARC and reverse lookups.
func newDNS(cfg *config.Config) (*dnsmx.Resolver, *net.Resolver, error) {
	mx, err := dnsmx.New(cfg.DNS.Resolver)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: %w (set dns.resolver = \"host:port\" if /etc/resolv.conf has no nameserver)", err)
	}
	return mx, msgauth.NewNetResolver(cfg.DNS.Resolver), nil
}

// junkClassifier adapts package junk's classifier to the MTA.
type junkClassifier struct {
	c  *junk.Classifier
	st junkTruster
}

// newJunkFilter makes the junk classifier junk.classifier asks for; nil
// (no filter) when it is off.
func newJunkFilter(cfg *config.Config, st interface {
	junk.Model
	junkTruster
}, log *slog.Logger, reg prometheus.Registerer) (mta.JunkFilter, error) {
	if !cfg.Junk.Classifier {
		return nil, nil
	}
	c, err := junk.New(st, junk.Options{Threshold: cfg.Junk.Threshold, MinTrained: cfg.Junk.MinTrained, Shared: cfg.Junk.SharedModel, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	return junkClassifier{c, st}, nil
}

func (j junkClassifier) JunkVerdicts(ctx context.Context, id string, msg io.Reader, accounts []uint64) []mta.JunkVerdict {
	vs := j.c.Classify(ctx, id, msg, accounts)
	out := make([]mta.JunkVerdict, len(vs))
	for i := range vs {
		out[i] = mta.JunkVerdict{Junk: vs[i].Junk, Header: vs[i].Header()}
	}
	return out
}

func (j junkClassifier) Trust(ctx context.Context, account uint64, addrs []string) error {
	return j.st.JunkTrust(ctx, account, addrs)
}
