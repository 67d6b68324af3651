package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"petrel/config"
	"petrel/tlsconf"
)

// newACME sets up certificates from the ACME CA of [tls]; Run gets them.
func newACME(cfg *config.Config, log *slog.Logger) (*tlsconf.ACME, error) {
	o := tlsconf.ACMEOptions{
		Hostname:  cfg.Hostname,
		Directory: cfg.TLS.ACMEDirectory,
		Email:     cfg.TLS.ACMEEmail,
		DataDir:   cfg.DataDir,
		Logger:    log.With("svc", "acme"),
	}
	if cfg.TLS.ACMECA != "" {
		b, err := os.ReadFile(cfg.TLS.ACMECA)
		if err != nil {
			return nil, fmt.Errorf("tls.acme_ca: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls.acme_ca: no PEM certificate in %s", cfg.TLS.ACMECA)
		}
	}
	return tlsconf.NewACME(o)
}
