package main

// `petrel import mbox|maildir` and `petrel export`: moving mail between the
// store and the files other mail systems use (package mailio), with their
// progress shown on stderr.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"petrel/control"
	"petrel/mailio"
	"petrel/store"
)

// importCmd runs `import FORMAT ADDRESS PATH [MAILBOX]`: the CLI has made
// PATH absolute and turned --mailbox into MAILBOX ("" for INBOX).
func importCmd(format string) func(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	return func(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
		path, mailbox := args[1], ""
		if len(args) > 2 {
			mailbox = args[2]
		}
		acct, err := findAccount(env.store, args[0])
		if err != nil {
			return fmt.Errorf("import %s: %w", format, err)
		}
		opts := mailio.ImportOptions{Mailbox: mailbox, Progress: progressTo(out), Logger: env.log}
		var res *mailio.Result
		if format == "mbox" {
			res, err = mailio.ImportMbox(ctx, env.store, acct.ID, path, opts)
		} else {
			res, err = mailio.ImportMaildir(ctx, env.store, acct.ID, path, opts)
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
func exportCmd(ctx context.Context, env *adminEnv, args []string, _ string, out io.Writer) error {
	acct, err := findAccount(env.store, args[0])
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	dir := args[1]
	res, err := mailio.ExportMaildir(ctx, env.store, acct.ID, dir, mailio.ExportOptions{Progress: progressTo(out)})
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

// Progress reports go out at most this often, besides the first, the last
// and each crossing of a multiple of plainEvery.
const (
	progressInterval = 100 * time.Millisecond
	plainEvery       = 1000
)

// progressTo returns the progress callback for a command writing to out, or
// nil if out cannot show progress. It passes on the first and last reports,
// each that crosses a multiple of plainEvery, and others at most every
// progressInterval: an export reports every message.
func progressTo(out io.Writer) func(done, total int) {
	sink, ok := out.(control.ProgressSink)
	if !ok {
		return nil
	}
	var last time.Time
	prev := -1
	return func(done, total int) {
		now := time.Now()
		if done == prev {
			return
		}
		if prev >= 0 && done < total && done/plainEvery == prev/plainEvery && now.Sub(last) < progressInterval {
			return
		}
		prev, last = done, now
		sink.Progress(done, total)
	}
}

// progressBar draws progress on the CLI's stderr: a bar redrawn in place
// with \r on a terminal, else a line each plainEvery messages (the command
// prints its summary on stdout at the end).
type progressBar struct {
	w     io.Writer
	verb  string // "import" or "export"
	tty   bool
	width int  // terminal columns
	prev  int  // done at the last report
	drawn bool // a bar is on the terminal's current line
}

func newProgressBar(stderr io.Writer, verb string) *progressBar {
	p := &progressBar{w: stderr, verb: verb, width: 80}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			p.width = w
		}
	}
	return p
}

func (p *progressBar) Progress(done, total int) {
	prev := p.prev
	p.prev = done
	if !p.tty {
		if done < total && done/plainEvery > prev/plainEvery {
			fmt.Fprintf(p.w, "%sed %d of %d messages\n", p.verb, done, total)
		}
		return
	}
	io.WriteString(p.w, "\r"+p.line(done, total))
	p.drawn = true
}

// line is the terminal's progress line, one column short of its width:
// "importing [=======>        ] 1200/5000  24%".
func (p *progressBar) line(done, total int) string {
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	head := p.verb + "ing "
	tail := fmt.Sprintf(" %*d/%d %3d%%", len(strconv.Itoa(total)), done, total, pct)
	n := min(p.width-1-len(head)-len(tail)-2, 50)
	if n < 10 {
		return strings.TrimSpace(head) + tail
	}
	fill := n * pct / 100
	bar := strings.Repeat("=", fill)
	if fill < n {
		bar += ">" + strings.Repeat(" ", n-fill-1)
	}
	return head + "[" + bar + "]" + tail
}

// end finishes the line of a drawn bar, so that what follows starts on a
// line of its own.
func (p *progressBar) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// progressOut is the CLI's stdout for an admin command: it draws progress
// reports on the bar and ends the bar's line before other output.
type progressOut struct {
	w   io.Writer
	bar *progressBar
}

func (o progressOut) Write(b []byte) (int, error) {
	o.bar.end()
	return o.w.Write(b)
}

func (o progressOut) Progress(done, total int) { o.bar.Progress(done, total) }
