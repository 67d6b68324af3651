package main

import (
	"fmt"
	"log/slog"
	"net/netip"

	milter "github.com/d--j/go-milter"

	"petrel/config"
	"petrel/dnsbl"
	"petrel/dnsmx"
	"petrel/filter"
	"petrel/mta"
	"petrel/web"
)

// newFilters makes the content filter chain ([[filter]]) and the DNS list
// checker (junk.dnsbl, junk.dnswl) of cfg; each is nil when not
// configured.
func newFilters(cfg *config.Config, res *dnsmx.Resolver, log *slog.Logger, fm *web.FilterMetrics) (mta.Filters, mta.Reputation, error) {
	var filters mta.Filters
	if len(cfg.Filters) > 0 {
		specs := make([]filter.Spec, len(cfg.Filters))
		for i, f := range cfg.Filters {
			specs[i] = filter.Spec{Milter: f.Milter, OnError: f.OnError, Timeout: f.Timeout.Duration, Ports: f.Ports}
		}
		flog := log.With("svc", "filter")
		// go-milter's own warnings (a filter that breaks the protocol)
		// go to the structured log, not to the standard logger.
		milter.LogWarning = func(format string, v ...any) { flog.Warn("milter: " + fmt.Sprintf(format, v...)) }
		chain, err := filter.New(specs, filter.Options{Logger: flog, OnVerdict: fm.FilterVerdict})
		if err != nil {
			return nil, nil, fmt.Errorf("[[filter]]: %w", err)
		}
		filters = chain
	}
	var reputation mta.Reputation
	if len(cfg.Junk.DNSBL)+len(cfg.Junk.DNSWL) > 0 {
		zones := func(ls config.DNSLists) []dnsbl.Zone {
			var out []dnsbl.Zone
			for _, l := range ls {
				z := dnsbl.Zone{Name: l.Zone, Weight: l.Weight}
				for _, a := range l.NotListed {
					z.NotListed = append(z.NotListed, netip.MustParseAddr(a)) // config.Validate checked them
				}
				out = append(out, z)
			}
			return out
		}
		c, err := dnsbl.New(dnsbl.Options{Block: zones(cfg.Junk.DNSBL), Allow: zones(cfg.Junk.DNSWL),
			Action: dnsbl.Action(cfg.Junk.DNSBLAction), Resolver: res, OnResult: fm.DNSListResult})
		if err != nil {
			return nil, nil, fmt.Errorf("junk.dnsbl: %w", err)
		}
		reputation = c
	}
	return filters, reputation, nil
}
