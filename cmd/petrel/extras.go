package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"petrel/config"
	"petrel/dnsguide"
	"petrel/msgauth"
	"petrel/queue"
)

// adminExtras are the subsystems beyond the store that admin commands use.
type adminExtras struct {
	queue    *queue.Queue
	signer   *signer
	resolver *net.Resolver
}

// openExtrasOffline opens, for an admin command run with the server
// stopped, the subsystems it needs beyond the store.
func openExtrasOffline(cfg *config.Config, env *adminEnv, o op) (func(), error) {
	closers := []func(){}
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	mx, netres, err := newDNS(cfg)
	if err != nil {
		return closeAll, err
	}
	env.extra.resolver = netres
	if env.extra.signer, err = newSigner(dkimDir(cfg)); err != nil {
		return closeAll, err
	}
	if o.needsQueue {
		q, err := openQueue(cfg, env.store, mx, env, sharedQueue(env.store, cfg))
		if err != nil {
			return closeAll, err
		}
		env.extra.queue = q
		closers = append(closers, func() { q.Close() })
	}
	return closeAll, nil
}

func queueList(ctx context.Context, env *adminEnv, _ []string, _ string, out io.Writer) error {
	items, err := env.extra.queue.List()
	if err != nil {
		return err
	}
	if len(items) == 0 {
		fmt.Fprintln(out, "the queue is empty")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tRECIPIENTS\tAGE\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	now := time.Now()
	for _, it := range items {
		var pending []string
		for _, r := range it.Rcpts {
			if r.State == "pending" || r.State == "" {
				pending = append(pending, r.Addr)
			}
		}
		next := "-"
		if t := it.NextAttempt(); !t.IsZero() {
			next = "in " + roundDur(t.Sub(now))
			if t.Before(now) {
				next = "now"
			}
		}
		from := it.From
		if from == "" {
			from = "<>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.ID, from, strings.Join(pending, ","), roundDur(now.Sub(it.Arrived)), it.Attempts, next, oneLine(it.LastErr, 60))
	}
	return tw.Flush()
}

func queueShow(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	it, msg, err := env.extra.queue.Show(args[0])
	if err != nil {
		return fmt.Errorf("queue show %s: %w", args[0], err)
	}
	fmt.Fprintf(out, "ID:       %s\nFrom:     <%s>\nArrived:  %s (%s ago)\nSize:     %d\nAttempts: %d\n", it.ID, it.From, it.Arrived.Format(time.RFC3339), roundDur(time.Since(it.Arrived)), it.Size, it.Attempts)
	for _, r := range it.Rcpts {
		fmt.Fprintf(out, "Rcpt:     <%s> %s", r.Addr, r.State)
		if !r.NextAttempt.IsZero() {
			fmt.Fprintf(out, ", next try %s", r.NextAttempt.Format(time.RFC3339))
		}
		if r.LastReply != "" {
			fmt.Fprintf(out, ", last: %s", oneLine(r.LastReply, 200))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "--- header")
	if i := strings.Index(string(msg), "\r\n\r\n"); i >= 0 {
		msg = msg[:i]
	}
	fmt.Fprintln(out, strings.ReplaceAll(string(msg), "\r\n", "\n"))
	return nil
}

func queueRetry(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	id := ""
	if len(args) > 0 {
		id = args[0]
	}
	if err := env.extra.queue.Retry(id); err != nil {
		return fmt.Errorf("queue retry: %w", err)
	}
	if id == "" {
		fmt.Fprintln(out, "every queued message will be tried now")
	} else {
		fmt.Fprintf(out, "%s will be tried now\n", id)
	}
	return nil
}

func queueDelete(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	if err := env.extra.queue.Delete(args[0]); err != nil {
		return fmt.Errorf("queue delete %s: %w", args[0], err)
	}
	fmt.Fprintf(out, "deleted %s without telling the sender\n", args[0])
	return nil
}

func queueBounce(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	if err := env.extra.queue.Bounce(args[0]); err != nil {
		return fmt.Errorf("queue bounce %s: %w", args[0], err)
	}
	fmt.Fprintf(out, "bounced %s: the sender gets a failure notice\n", args[0])
	return nil
}

// dkimKeygen: args are DOMAIN [ALGO [SELECTOR]] (the CLI turns --algo and
// --selector into these).
func dkimKeygen(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	domain := strings.ToLower(args[0])
	algo, selector := "ed25519", ""
	if len(args) > 1 && args[1] != "" {
		algo = args[1]
	}
	if len(args) > 2 {
		selector = args[2]
	}
	if algo != "ed25519" && algo != "rsa" {
		return usagef("dkim keygen: --algo must be ed25519 or rsa, not %q", algo)
	}
	var rec string
	var err error
	if selector == "" {
		selector, rec, err = msgauth.NewKey(dkimDir(env.cfg), domain, algo, time.Now())
	} else {
		rec, err = msgauth.GenerateKey(dkimDir(env.cfg), domain, selector, algo)
	}
	if err != nil {
		return err
	}
	if env.extra.signer != nil {
		if err := env.extra.signer.reload(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "made a %s DKIM key for %s (selector %s); mail from %s is signed with it from now on.\nPublish this TXT record:\n\n%s\n", algo, domain, selector, domain, rec)
	return nil
}

func dkimLookup(env *adminEnv) func(string) (string, bool) {
	return func(domain string) (string, bool) {
		if env.extra.signer == nil {
			return "", false
		}
		krs := env.extra.signer.get().KeyRecords(domain)
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
func hostIPs(ctx context.Context, env *adminEnv) (ips, loopback []net.IP) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if env.extra.resolver != nil {
		if addrs, err := env.extra.resolver.LookupIPAddr(ctx, env.cfg.Hostname); err == nil {
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
func dnsWarnings(env *adminEnv, domain string, ips, loopback []net.IP) []string {
	_, hasKey := dkimLookup(env)(domain)
	return dnsguide.Warnings(domain, env.cfg.Hostname, env.cfg.IsLocalDomain(domain), hasKey, append(slices.Clone(ips), loopback...))
}

func dnsRecords(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	domain := strings.ToLower(strings.TrimSuffix(args[0], "."))
	ips, loopback := hostIPs(ctx, env)
	recs := dnsguide.Records(domain, env.cfg.Hostname, ips, dkimLookup(env))
	fmt.Fprintf(out, "; Records to publish for %s, served by %s\n", domain, env.cfg.Hostname)
	for _, w := range dnsWarnings(env, domain, ips, loopback) {
		fmt.Fprintf(out, "; WARNING: %s\n", w)
	}
	io.WriteString(out, dnsguide.Zone(recs))
	return nil
}

func dnsCheck(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	domain := strings.ToLower(strings.TrimSuffix(args[0], "."))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ips, loopback := hostIPs(ctx, env)
	for _, w := range dnsWarnings(env, domain, ips, loopback) {
		fmt.Fprintf(out, "warning %s\n", w)
	}
	findings := dnsguide.Check(ctx, env.extra.resolver, domain, env.cfg.Hostname, ips, dkimLookup(env))
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

func roundDur(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Hour).String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}
