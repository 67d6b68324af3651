package main

import (
	"log/slog"

	"petrel/config"
	"petrel/tlsconf"
)

// newACME sets up certificates from the ACME CA of [tls]; Run gets them.
func newACME(cfg *config.Config, log *slog.Logger) (*tlsconf.ACME, error) {
	return tlsconf.NewACME(tlsconf.ACMEOptions{
		Hostname:  cfg.Hostname,
		Directory: cfg.TLS.ACMEDirectory,
		Email:     cfg.TLS.ACMEEmail,
		DataDir:   cfg.DataDir,
		CAFile:    cfg.TLS.ACMECA,
		Logger:    log.With("svc", "acme"),
	})
}
