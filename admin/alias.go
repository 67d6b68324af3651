package admin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"petrel/store"
)

// The alias and list commands (admin.go's ops table): like `user`, they
// act through the running server's control socket, or on the store when
// it is stopped.

func resolveOptions(env *Env) store.ResolveOptions {
	return store.ResolveOptions{PlusSeparator: env.Config.SMTP.PlusSeparator, IsLocal: env.Config.IsLocalDomain}
}

// localAddress checks that addr (an address, or "@domain" when catchAll)
// is in a local domain, and returns it normalized.
func localAddress(env *Env, addr string, catchAll bool) (string, error) {
	var n string
	var err error
	if catchAll {
		n, err = store.NormalizeAlias(addr)
	} else {
		n, err = store.NormalizeAddress(addr)
	}
	if err != nil {
		return "", err
	}
	_, domain, _ := strings.Cut(n, "@")
	if !env.Config.IsLocalDomain(domain) {
		return "", fmt.Errorf("%s is not in a local domain (domains = %v); add %q to domains in the config first", n, env.Config.Domains, domain)
	}
	return n, nil
}

func aliasAdd(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	addr, err := localAddress(env, args[0], true)
	if err != nil {
		return err
	}
	res, err := env.Store.SetAlias(ctx, addr, args[1:], resolveOptions(env))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s → %s\n", addr, strings.Join(args[1:], ", "))
	var parts []string
	for _, a := range res.Accounts {
		parts = append(parts, a.Address)
	}
	for _, l := range res.Lists {
		parts = append(parts, l+" (list)")
	}
	for _, r := range res.Remote {
		parts = append(parts, r+" (forwarded)")
	}
	fmt.Fprintf(out, "delivers to: %s\n", strings.Join(parts, ", "))
	return nil
}

func aliasDel(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	for _, a := range args {
		if err := env.Store.DeleteAlias(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted alias %s\n", strings.ToLower(a))
	}
	return nil
}

func aliasList(ctx context.Context, env *Env, _ []string, _ string, out io.Writer) error {
	as, err := env.Store.Aliases()
	if err != nil {
		return err
	}
	if len(as) == 0 {
		fmt.Fprintln(out, "no aliases")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tTARGETS")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%s\n", a.Address, strings.Join(a.Targets, ", "))
	}
	return tw.Flush()
}

// listSettings applies key=value arguments to l.
func listSettings(l *store.List, args []string) error {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return Usagef("%q: want key=value (post=, moderators=, reply_to= or archive=)", a)
		}
		switch strings.ToLower(k) {
		case "post":
			l.Post = v
		case "moderators":
			l.Moderators = nil
			for _, m := range strings.Split(v, ",") {
				if m = strings.TrimSpace(m); m != "" {
					l.Moderators = append(l.Moderators, m)
				}
			}
		case "reply_to", "reply-to":
			l.ReplyTo = v
		case "archive":
			l.Archive = v
		default:
			return Usagef("unknown list setting %q (want post, moderators, reply_to or archive)", k)
		}
	}
	return nil
}

func printList(out io.Writer, l *store.List) {
	mods := strings.Join(l.Moderators, ", ")
	if mods == "" {
		mods = "-"
	}
	archive := l.Archive
	if archive == "" {
		archive = "-"
	}
	fmt.Fprintf(out, "list %s: post=%s moderators=%s reply_to=%s archive=%s\n", l.Address, l.Post, mods, l.ReplyTo, archive)
	fmt.Fprintf(out, "  posts to %s go to every member; bounces come back to %s\n", l.Address, store.BounceAddress(l.Address))
}

func listCreate(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	addr, err := localAddress(env, args[0], false)
	if err != nil {
		return err
	}
	l := store.List{Address: addr}
	if err := listSettings(&l, args[1:]); err != nil {
		return err
	}
	made, err := env.Store.CreateList(ctx, l)
	if err != nil {
		return err
	}
	printList(out, made)
	return nil
}

func listSet(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	l, err := env.Store.MailingList(args[0])
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if err := listSettings(l, args[1:]); err != nil {
		return err
	}
	if err := env.Store.UpdateList(ctx, *l); err != nil {
		return err
	}
	l, err = env.Store.MailingList(l.Address)
	if err != nil {
		return err
	}
	printList(out, l)
	return nil
}

func listShow(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	var ls []store.List
	if len(args) > 0 {
		l, err := env.Store.MailingList(args[0])
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		ls = []store.List{*l}
	} else {
		var err error
		if ls, err = env.Store.MailingLists(); err != nil {
			return err
		}
	}
	if len(ls) == 0 {
		fmt.Fprintln(out, "no mailing lists")
	}
	for i := range ls {
		ms, err := env.Store.Members(ls[i].Address)
		if err != nil {
			return err
		}
		printList(out, &ls[i])
		disabled := 0
		for _, m := range ms {
			if m.Disabled {
				disabled++
			}
		}
		fmt.Fprintf(out, "  %d members, %d disabled by bounces\n", len(ms), disabled)
	}
	return nil
}

func listDrop(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	if err := env.Store.DeleteList(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted the list %s and its members\n", strings.ToLower(args[0]))
	return nil
}

func listAdd(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	added, err := env.Store.AddMembers(ctx, args[0], args[1:])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: added or enabled %d of %d (the others were members already)\n", strings.ToLower(args[0]), len(added), len(args)-1)
	return nil
}

func listDel(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	removed, err := env.Store.RemoveMembers(ctx, args[0], args[1:])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: removed %d of %d (the others were not members)\n", strings.ToLower(args[0]), len(removed), len(args)-1)
	return nil
}

func listMembers(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	ms, err := env.Store.Members(args[0])
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		fmt.Fprintf(out, "%s has no members\n", strings.ToLower(args[0]))
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSTATE\tBOUNCE DAYS\tADDED")
	for _, m := range ms {
		state := "enabled"
		if m.Disabled {
			state = "disabled"
		}
		days := "-"
		if len(m.BounceDays) > 0 {
			days = fmt.Sprintf("%d (last %s)", len(m.BounceDays), m.BounceDays[len(m.BounceDays)-1])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Address, state, days, m.Added.Format("2006-01-02"))
	}
	return tw.Flush()
}
