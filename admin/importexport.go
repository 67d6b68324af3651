package admin

// `petrel import mbox|maildir` and `petrel export`: moving mail between the
// store and the files other mail systems use (package mailio), with their
// progress shown on stderr.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"petrel/mailio"
	"petrel/store"
)

// importCmd runs `import FORMAT ADDRESS PATH [MAILBOX]`: the CLI has made
// PATH absolute and turned --mailbox into MAILBOX ("" for INBOX).
func importCmd(format string) func(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	return func(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
		path, mailbox := args[1], ""
		if len(args) > 2 {
			mailbox = args[2]
		}
		acct, err := findAccount(env.Store, args[0])
		if err != nil {
			return fmt.Errorf("import %s: %w", format, err)
		}
		opts := mailio.ImportOptions{Mailbox: mailbox, Progress: progressTo(out), Logger: env.Log}
		var res *mailio.Result
		if format == "mbox" {
			res, err = mailio.ImportMbox(ctx, env.Store, acct.ID, path, opts)
		} else {
			res, err = mailio.ImportMaildir(ctx, env.Store, acct.ID, path, opts)
		}
		if err != nil {
			if res != nil && res.Messages > 0 {
				return fmt.Errorf("%w (the first %d messages were imported before it; importing the file again adds them twice)", err, res.Messages)
			}
			return err
		}
		into := mailbox
		if into == "" {
			into = "INBOX"
		}
		switch len(res.Mailboxes) {
		case 0:
			fmt.Fprintf(out, "imported %d messages into %s/%s", res.Messages, acct.Address, into)
		case 1:
			fmt.Fprintf(out, "imported %d messages into %s/%s", res.Messages, acct.Address, res.Mailboxes[0])
		default:
			fmt.Fprintf(out, "imported %d messages into %d mailboxes of %s: %s", res.Messages, len(res.Mailboxes), acct.Address, strings.Join(res.Mailboxes, ", "))
		}
		fmt.Fprintf(out, " (%s)\n", humanSize(res.Bytes))
		if res.Skipped > 0 {
			fmt.Fprintf(out, "skipped %d messages (over the size limit or unreadable); the log names them\n", res.Skipped)
		}
		return nil
	}
}

// exportCmd runs `export ADDRESS DIR` (DIR made absolute by the CLI).
func exportCmd(ctx context.Context, env *Env, args []string, _ string, out io.Writer) error {
	acct, err := findAccount(env.Store, args[0])
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	dir := args[1]
	res, err := mailio.ExportMaildir(ctx, env.Store, acct.ID, dir, mailio.ExportOptions{Progress: progressTo(out)})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "exported %d messages in %d mailboxes of %s to the Maildir %s (%s)\n", res.Messages, len(res.Mailboxes), acct.Address, dir, humanSize(res.Bytes))
	if res.DroppedKeywords > 0 {
		fmt.Fprintf(out, "left out %d keywords: a Maildir folder has room for 26\n", res.DroppedKeywords)
	}
	for _, name := range res.Shortened {
		fmt.Fprintf(out, "mailbox %q: its name is too long for a file name; written under a shortened folder name (ending in ~ and a hash)\n", name)
	}
	return nil
}

func findAccount(st interface {
	AccountByAddress(address string) (*store.Account, error)
}, address string) (*store.Account, error) {
	addr, err := store.NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	a, err := st.AccountByAddress(addr)
	if errors.Is(err, store.ErrNoAccount) {
		return nil, fmt.Errorf("there is no account %s (add it first with `petrel user add %s`)", addr, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", addr, err)
	}
	return a, nil
}

// checkImportPath refuses, before anything is sent to a server, a PATH
// that does not exist or is of the wrong kind for the format.
func checkImportPath(format, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", format, err)
	}
	switch {
	case format == "mbox" && fi.IsDir():
		return fmt.Errorf("import mbox: %s is a directory (for a Maildir, use `petrel import maildir`)", path)
	case format == "maildir" && !fi.IsDir():
		return fmt.Errorf("import maildir: %s is not a directory (for an mbox file, use `petrel import mbox`)", path)
	}
	return nil
}
