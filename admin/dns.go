package admin

// dkim keygen, and dns and dns check: the records a domain needs, from
// package dnsguide, with this server's keys and addresses.

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"petrel/dnsguide"
	"petrel/msgauth"
)

// dkimKeygen: args are DOMAIN [ALGO [SELECTOR]] (the CLI turns --algo and
// --selector into these).
func dkimKeygen(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	domain := strings.ToLower(args[0])
	algo, selector := "ed25519", ""
	if len(args) > 1 && args[1] != "" {
		algo = args[1]
	}
	if len(args) > 2 {
		selector = args[2]
	}
	if algo != "ed25519" && algo != "rsa" {
		return Usagef("dkim keygen: --algo must be ed25519 or rsa, not %q", algo)
	}
	var rec string
	var err error
	if selector == "" {
		selector, rec, err = msgauth.NewKey(DKIMDir(env.Config), domain, algo, time.Now())
	} else {
		rec, err = msgauth.GenerateKey(DKIMDir(env.Config), domain, selector, algo)
	}
	if err != nil {
		return err
	}
	if env.DKIM != nil {
		if err := env.DKIM.Reload(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "made a %s DKIM key for %s (selector %s); mail from %s is signed with it from now on.\nPublish this TXT record:\n\n%s\n", algo, domain, selector, domain, rec)
	return nil
}

func dkimLookup(env *Env) func(string) (string, bool) {
	return func(domain string) (string, bool) {
		if env.DKIM == nil {
			return "", false
		}
		krs := env.DKIM.Signer().KeyRecords(domain)
		if len(krs) == 0 {
			return "", false
		}
		lines := make([]string, len(krs))
		for i, k := range krs {
			lines[i] = dnsguide.DKIMRecord(k.Selector, k.TXT)
		}
		return strings.Join(lines, "\n"), true
	}
}

// hostIPs are the addresses the DNS records should point at: the
// hostname's, if it resolves, else this machine's public-looking ones;
// loopback are the loopback addresses the hostname resolves to (left out,
// but warned about).
func hostIPs(ctx context.Context, env *Env) (ips, loopback []net.IP) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if env.Resolver != nil {
		if addrs, err := env.Resolver.LookupIPAddr(ctx, env.Config.Hostname); err == nil {
			for _, a := range addrs {
				if a.IP.IsLoopback() {
					loopback = append(loopback, a.IP)
				} else {
					ips = append(ips, a.IP)
				}
			}
		}
	}
	if len(ips) == 0 {
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
				ips = append(ips, n.IP)
			}
		}
	}
	return ips, loopback
}

// dnsWarnings are dnsguide's warnings for domain on this configuration.
func dnsWarnings(env *Env, domain string, ips, loopback []net.IP) []string {
	_, hasKey := dkimLookup(env)(domain)
	return dnsguide.Warnings(domain, env.Config.Hostname, env.Config.IsLocalDomain(domain), hasKey, append(slices.Clone(ips), loopback...))
}

func dnsRecords(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	domain := strings.ToLower(strings.TrimSuffix(args[0], "."))
	ips, loopback := hostIPs(ctx, env)
	recs := dnsguide.Records(domain, env.Config.Hostname, ips, dkimLookup(env))
	fmt.Fprintf(out, "; Records to publish for %s, served by %s\n", domain, env.Config.Hostname)
	for _, w := range dnsWarnings(env, domain, ips, loopback) {
		fmt.Fprintf(out, "; WARNING: %s\n", w)
	}
	io.WriteString(out, dnsguide.Zone(recs))
	return nil
}

func dnsCheck(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	domain := strings.ToLower(strings.TrimSuffix(args[0], "."))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ips, loopback := hostIPs(ctx, env)
	for _, w := range dnsWarnings(env, domain, ips, loopback) {
		fmt.Fprintf(out, "warning %s\n", w)
	}
	findings := dnsguide.Check(ctx, env.Resolver, domain, env.Config.Hostname, ips, dkimLookup(env))
	bad := 0
	for _, f := range findings {
		fmt.Fprintln(out, f.String())
		if f.Status != dnsguide.StatusOK {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d records need attention (see the fixes above)", bad, len(findings))
	}
	return nil
}
