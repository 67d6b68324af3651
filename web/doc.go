// Package web owns Petrel's HTTP listener (listen.http): client autoconfig
// for Thunderbird (config-v1.1.xml) and Outlook (autodiscover.xml), the
// MTA-STS policy (RFC 8461 3.2), Prometheus /metrics, /healthz and /readyz,
// one-click unsubscription from mailing lists (RFC 8058, unsubscribe.go),
// the web mail (package webmail, mounted at "/" when given),
// and the admin token that guards anything beyond those public endpoints.
//
// It owns the HTTP server's limits too (server.go): a timeout on every
// phase of a request (header, body, response, a kept-alive connection's
// wait), a cap on header and body sizes, and on connections in all and per
// client address, so that idle or trickling clients cannot pile up.
//
// It also owns Petrel's Prometheus collectors (Metrics), which the other
// packages feed through small methods that cmd/petrel wires as hooks.
//
// The package knows nothing of the store or the protocol servers: it is
// given the hostname, a func that lists the local domains, a Gatherer, a
// readiness func and a ListRemover, so it can be tested on its own and
// wired by main.
package web
