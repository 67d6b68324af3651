package admin

// The user commands: add, passwd, del, list.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func userAdd(ctx context.Context, env *Env, args []string, password string, out io.Writer) error {
	addr, err := localAddress(env, args[0], false)
	if err != nil {
		return err
	}
	a, err := env.Store.CreateAccount(ctx, addr, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "added %s\n", a.Address)
	return nil
}

func userPasswd(ctx context.Context, env *Env, args []string, password string, out io.Writer) error {
	if err := env.Store.SetPassword(ctx, args[0], password); err != nil {
		return err
	}
	fmt.Fprintf(out, "password changed for %s\n", strings.ToLower(args[0]))
	return nil
}

func userDel(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	if err := env.Store.DeleteAccount(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted %s and all its mail\n", strings.ToLower(args[0]))
	return nil
}

func userList(ctx context.Context, env *Env, _ []string, _ string, out io.Writer) error {
	accts, err := env.Store.Accounts()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tMESSAGES\tSIZE\tCREATED")
	for _, a := range accts {
		var n uint32
		var size int64
		mbs, _ := env.Store.Mailboxes(a.ID)
		for _, m := range mbs {
			n += m.Messages
			size += m.Size
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", a.Address, n, humanSize(size), a.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
