package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"petrel/admin"
	"petrel/config"
	"petrel/dnsmx"
	"petrel/junk"
	"petrel/msgauth"
	"petrel/mta"
	"petrel/queue"
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

func queuePath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "queue.db") }

// openQueue opens the queue as cfg says; mods set what the config does
// not (the server's metrics hooks).
func openQueue(cfg *config.Config, res queue.MXResolver, log *slog.Logger, mods ...func(*queue.Options)) (*queue.Queue, error) {
	var retry []time.Duration
	for _, d := range cfg.Queue.Retry {
		retry = append(retry, d.Duration)
	}
	opts := queue.Options{
		Path:          queuePath(cfg),
		Hostname:      cfg.Hostname,
		Resolver:      res,
		IsLocal:       cfg.IsLocalDomain,
		Logger:        log.With("svc", "queue"),
		Retry:         retry,
		MaxAge:        cfg.Queue.MaxAge.Duration,
		DelayWarning:  cfg.Queue.DelayWarning.Duration,
		KeepFinished:  cfg.Queue.KeepFinished.Duration,
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

// openQueueOffline opens the queue for an admin command run while the
// server is stopped: it does not run, so it delivers nothing.
func openQueueOffline(cfg *config.Config, st admin.Store, log *slog.Logger) (admin.Queue, func(), error) {
	mx, _, err := newDNS(cfg)
	if err != nil {
		return nil, nil, err
	}
	q, err := openQueue(cfg, mx, log, sharedQueue(st, cfg))
	if err != nil {
		return nil, nil, err
	}
	return q, func() { q.Close() }, nil
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
