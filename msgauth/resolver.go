package msgauth

import (
	"context"
	"net"
)

// Resolver is the DNS this package needs. *net.Resolver satisfies it, and so
// does the SPF library's DNSResolver, so one value serves both.
//
// Errors must be *net.DNSError (not wrapped) for NXDOMAIN and temporary
// failures: the SPF and DKIM libraries tell "no record" from "try later" by a
// type assertion on that type.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// NewNetResolver returns a *net.Resolver that sends every query to server
// ("host:port", or "host" for port 53), over UDP or TCP as the stub resolver
// chooses. An empty server means the system's resolver (net.DefaultResolver).
//
// cmd/petrel passes the configured dns.resolver here; tests pass the address
// of a DNS server they started on 127.0.0.1.
func NewNetResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}
