package admin

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"petrel/config"
	"petrel/dnsmx"
	"petrel/msgauth"
	"petrel/queue"
)

func queuePath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "queue.db") }

// OpenQueue opens the queue as cfg says; mods set what the config does
// not (the server's metrics hooks).
func OpenQueue(cfg *config.Config, res queue.MXResolver, log *slog.Logger, mods ...func(*queue.Options)) (*queue.Queue, error) {
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
func openQueueOffline(cfg *config.Config, st Store, log *slog.Logger) (Queue, func(), error) {
	mx, _, err := NewDNS(cfg)
	if err != nil {
		return nil, nil, err
	}
	q, err := OpenQueue(cfg, mx, log, SharedQueue(st, cfg))
	if err != nil {
		return nil, nil, err
	}
	return q, func() { q.Close() }, nil
}

// NewDNS makes the resolvers: dnsmx for MX lookups, and a *net.Resolver
// on the same server for SPF/DKIM/DMARC and reverse lookups.
func NewDNS(cfg *config.Config) (*dnsmx.Resolver, *net.Resolver, error) {
	mx, err := dnsmx.New(cfg.DNS.Resolver)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: %w (set dns.resolver = \"host:port\" if /etc/resolv.conf has no nameserver)", err)
	}
	return mx, msgauth.NewNetResolver(cfg.DNS.Resolver), nil
}
