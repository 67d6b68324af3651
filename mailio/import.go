package mailio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"petrel/msgtext"
	"petrel/store"
)

// ImportMbox adds the messages of the mbox file at path to an account,
// keeping their flags (Status, X-Status, X-Keywords, or Gmail's labels) and
// their arrival dates (from the From_ lines).
func ImportMbox(ctx context.Context, st Store, acct uint64, path string, opts ImportOptions) (*Result, error) {
	total, err := countMbox(path, opts.Variant)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import mbox: %w", err)
	}
	defer f.Close()
	b := newBatcher(ctx, st, acct, &opts, total)
	r := NewMboxReader(f, opts.Variant)
	for {
		msg, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return b.res, fmt.Errorf("import mbox %s: %w", path, err)
		}
		if msg.TooBig {
			b.res.Skipped++
			opts.Logger.Warn("skipping message over the size limit", "file", path, "line", msg.Line, "limit", MaxMessageSize)
			continue
		}
		h := headerFields(msg.Body, "status", "x-status", "x-keywords", "x-gmail-labels")
		flags := mboxFlags(h)
		mailboxes := []string{opts.Mailbox}
		if opts.GmailLabels {
			p := gmailLabels(strings.Join(h["x-gmail-labels"], ","))
			mailboxes = p.mailboxes
			if len(mailboxes) == 0 {
				mailboxes = []string{"Archive"} // Gmail's "All Mail"
			}
			if p.readKnown {
				flags = removeFlag(flags, store.FlagSeen)
			}
			flags = append(flags, p.flags...)
		}
		if err := b.add(mailboxes, store.AppendItem{Body: msg.Body, Flags: flags, Date: msg.Date}); err != nil {
			return b.res, fmt.Errorf("import mbox %s, message at line %d: %w", path, msg.Line, err)
		}
	}
	if err := b.flush(); err != nil {
		return b.res, fmt.Errorf("import mbox %s: %w", path, err)
	}
	return b.res, nil
}

func removeFlag(flags []string, f string) []string {
	out := flags[:0]
	for _, x := range flags {
		if !strings.EqualFold(x, f) {
			out = append(out, x)
		}
	}
	return out
}

// countMbox counts the messages of an mbox file without keeping them.
func countMbox(path string, v Variant) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("import mbox: %w", err)
	}
	defer f.Close()
	r := NewMboxReader(f, v)
	r.max = 0 // every message "too big": nothing is kept
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("import mbox %s: %w", path, err)
		}
		n++
	}
}

// ImportMaildir adds every folder of the Maildir at root to an account,
// keeping flags (the ":2," info letters and dovecot-keywords), the order
// (dovecot-uidlist) and the arrival dates (file modification times, as
// Dovecot keeps them).
func ImportMaildir(ctx context.Context, st Store, acct uint64, root string, opts ImportOptions) (*Result, error) {
	folders, err := findFolders(root)
	if err != nil {
		return nil, fmt.Errorf("import maildir: %w", err)
	}
	if len(folders) == 0 {
		return nil, fmt.Errorf("import maildir: %s holds no maildir (no cur/ directory)", root)
	}
	type folderFiles struct {
		mailbox  string
		files    []maildirFile
		keywords map[byte]string
	}
	var all []folderFiles
	total := 0
	for _, f := range folders {
		files, kw, err := listMaildir(f.dir)
		if err != nil {
			return nil, fmt.Errorf("import maildir: %w", err)
		}
		all = append(all, folderFiles{mailbox: targetMailbox(opts.Mailbox, f.name), files: files, keywords: kw})
		total += len(files)
	}
	b := newBatcher(ctx, st, acct, &opts, total)
	for _, f := range all {
		if _, err := b.mailbox(f.mailbox); err != nil { // empty folders are made too
			return b.res, fmt.Errorf("import maildir: %w", err)
		}
		for _, file := range f.files {
			body, info, err := readFile(file.path)
			if errors.Is(err, errTooBig) {
				b.res.Skipped++
				opts.Logger.Warn("skipping message over the size limit", "file", file.path, "limit", MaxMessageSize)
				continue
			}
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					// Moved between new/ and cur/ by a running server.
					b.res.Skipped++
					opts.Logger.Warn("message vanished during import", "file", file.path)
					continue
				}
				return b.res, fmt.Errorf("import maildir: %w", err)
			}
			item := store.AppendItem{Body: msgtext.ToCRLF(body), Flags: flagsFromInfo(file.letters, f.keywords), Date: info.ModTime()}
			if err := b.add([]string{f.mailbox}, item); err != nil {
				return b.res, fmt.Errorf("import maildir %s: %w", file.path, err)
			}
		}
	}
	if err := b.flush(); err != nil {
		return b.res, fmt.Errorf("import maildir: %w", err)
	}
	return b.res, nil
}

// targetMailbox maps a Maildir folder to a mailbox: the root to base (or
// INBOX), subfolders under base (or at the top), and a folder named INBOX
// (mbsync's layout) to INBOX.
func targetMailbox(base, folder string) string {
	switch {
	case folder == "":
		if base == "" {
			return "INBOX"
		}
		return base
	case base == "" || strings.EqualFold(base, "INBOX"):
		return folder
	default:
		return base + "/" + folder
	}
}

var errTooBig = errors.New("message over the size limit")

func readFile(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if info.Size() > MaxMessageSize {
		return nil, info, errTooBig
	}
	body, err := io.ReadAll(f)
	return body, info, err
}

// EachMaildirMessage calls fn with the path and bytes (as stored) of every
// message in the Maildir folders under root, found as ImportMaildir finds
// them; messages over MaxMessageSize are skipped. It is for readers that
// do not store what they read (`petrel junk train`).
func EachMaildirMessage(root string, fn func(path string, body []byte) error) error {
	folders, err := findFolders(root)
	if err != nil {
		return err
	}
	if len(folders) == 0 {
		return fmt.Errorf("%s holds no maildir (no cur/ directory)", root)
	}
	for _, f := range folders {
		files, _, err := listMaildir(f.dir)
		if err != nil {
			return err
		}
		for _, file := range files {
			body, _, err := readFile(file.path)
			if errors.Is(err, errTooBig) || errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(file.path, body); err != nil {
				return err
			}
		}
	}
	return nil
}
