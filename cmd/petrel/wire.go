package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"petrel/config"
	"petrel/junk"
	"petrel/msgauth"
	"petrel/mta"
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
