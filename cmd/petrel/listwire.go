package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"petrel/config"
	"petrel/internal/secret"
	"petrel/mta"
	"petrel/queue"
	"petrel/srs"
	"petrel/store"
	"petrel/web"
)

// This file wires aliases, forwarding and mailing lists: the SRS key, the
// one-click unsubscribe links, and the MTA's refusals as the queue's DSNs.

// srsKeyFile and unsubscribeKeyFile are made in data_dir on first start.
const (
	srsKeyFile         = "srs.key"
	unsubscribeKeyFile = "unsubscribe.key"
)

func newSRS(cfg *config.Config) (*srs.Rewriter, error) {
	key, err := secret.LoadOrCreate(filepath.Join(cfg.DataDir, srsKeyFile))
	if err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	return srs.New(key)
}

// newUnsubscribe makes the one-click unsubscribe endpoint of the lists.
func newUnsubscribe(cfg *config.Config, st listStore) (*web.Unsubscribe, error) {
	key, err := secret.LoadOrCreate(filepath.Join(cfg.DataDir, unsubscribeKeyFile))
	if err != nil {
		return nil, fmt.Errorf("unsubscribe links: %w", err)
	}
	u := cfg.Lists.UnsubscribeURL
	if u == "" {
		u = "https://" + cfg.Hostname + "/unsubscribe"
	}
	return &web.Unsubscribe{Key: key, URL: u, Remover: listRemover{st}}, nil
}

// listRemover takes a member off a list for the web's one-click
// unsubscribe.
type listRemover struct{ st listStore }

func (l listRemover) RemoveListMember(ctx context.Context, list, member string) error {
	_, err := l.st.RemoveMembers(ctx, list, []string{member})
	if errors.Is(err, store.ErrNoList) {
		return nil // the list is gone: so is the subscription
	}
	return err
}

// bouncer sends the MTA's refusals after DATA as the queue's DSNs.
type bouncer struct{ q *queue.Queue }

func (b bouncer) Bounce(ctx context.Context, id, from string, failed []mta.Failure, msg []byte) error {
	rcpts := make([]queue.Rcpt, 0, len(failed))
	for _, f := range failed {
		rcpts = append(rcpts, queue.Rcpt{Addr: f.Rcpt, Status: f.Status(), LastReply: f.String()})
	}
	_, err := b.q.EnqueueDSN(ctx, id, from, rcpts, msg)
	return err
}
