package main

import (
	"petrel/config"
	"petrel/web"
)

// services lists the client-facing services autoconfig and autodiscover
// advertise: the listeners this server really has, on their ports,
// implicit TLS first in each group (RFC 8314).
func services(cfg *config.Config) []web.Service {
	l := cfg.Listen
	out := []web.Service{} // not nil: nil would mean the standard ports
	for _, s := range []struct {
		typ, addr, socket string
	}{
		{"imap", l.IMAPS, "SSL"}, {"imap", l.IMAP, "STARTTLS"},
		{"pop3", l.POP3S, "SSL"}, {"pop3", l.POP3, "STARTTLS"},
		{"smtp", l.Submissions, "SSL"}, {"smtp", l.Submission, "STARTTLS"},
	} {
		port := config.ListenPort(s.addr, 0) // config.Validate refused a malformed one
		if s.addr == "" || port == 0 {
			continue
		}
		out = append(out, web.Service{Type: s.typ, Port: port, Socket: s.socket})
	}
	return out
}

// mtaSTS is the policy to serve, or nil when mta_sts.mode is "".
func mtaSTS(cfg *config.Config) *web.MTASTSPolicy {
	if cfg.MTASTS.Mode == "" {
		return nil
	}
	mx := cfg.MTASTS.MX
	if len(mx) == 0 {
		mx = []string{cfg.Hostname}
	}
	return &web.MTASTSPolicy{Mode: cfg.MTASTS.Mode, MX: mx, MaxAge: cfg.MTASTS.MaxAge.Duration}
}
