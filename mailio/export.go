package mailio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"petrel/store"
)

// ExportOptions configure an export.
type ExportOptions struct {
	// Progress, if set, is called with the messages written so far and the
	// total.
	Progress func(done, total int)
}

// ExportMaildir writes every mailbox of an account to dir as a Dovecot
// Maildir++ tree: INBOX at the root, other mailboxes in ".Name" folders
// ('/' becomes '.'), messages in cur/ with their flags in the ":2," info,
// keywords in dovecot-keywords, the order in dovecot-uidlist, and the
// internal date as the file's modification time. dir must not exist or be
// empty. Messages are written with LF line ends.
func ExportMaildir(ctx context.Context, st Store, acct uint64, dir string, opts ExportOptions) (*Result, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("export maildir: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("export maildir: %w", err)
	}
	mailboxes, err := st.Mailboxes(acct)
	if err != nil {
		return nil, fmt.Errorf("export maildir: %w", err)
	}
	total := 0
	for _, m := range mailboxes {
		total += int(m.Messages)
	}
	res := &Result{}
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(res.Messages, total)
		}
	}
	progress()
	var failed []error
	for _, m := range mailboxes {
		sub := dir
		if m.Name != "INBOX" {
			folder, short := folderName(m.Name)
			if short {
				res.Shortened = append(res.Shortened, m.Name)
			}
			sub = filepath.Join(dir, folder)
		}
		if err := exportMailbox(ctx, st, m, sub, res, progress); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("export maildir, mailbox %q: %w", m.Name, err)
			}
			// One mailbox that cannot be written does not stop the others.
			res.Failed = append(res.Failed, m.Name)
			failed = append(failed, fmt.Errorf("mailbox %q: %w", m.Name, err))
			continue
		}
		res.Mailboxes = append(res.Mailboxes, m.Name)
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("export maildir: %d of %d mailboxes not written (the others were): %w", len(failed), len(mailboxes), errors.Join(failed...))
	}
	return res, nil
}

// maxNameBytes is the longest file name most file systems take (ext4,
// XFS, btrfs, tmpfs: NAME_MAX).
const maxNameBytes = 255

// folderName is a mailbox's Maildir++ folder name: "." and its levels,
// escaped, joined by ".". A name longer than a file name may be is cut and
// made unique again with a hash of the whole name ("~" and 16 hex digits);
// short says it was.
func folderName(mailbox string) (name string, short bool) {
	parts := strings.Split(mailbox, string(store.Separator))
	for i, p := range parts {
		parts[i] = escapeFolder(p)
	}
	name = "." + strings.Join(parts, ".")
	if len(name) <= maxNameBytes {
		return name, false
	}
	sum := sha256.Sum256([]byte(mailbox))
	suffix := "~" + hex.EncodeToString(sum[:8])
	cut := maxNameBytes - len(suffix)
	// Not inside a character, nor inside an escape (\2e).
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	if i := strings.LastIndexByte(name[:cut], '\\'); i >= 0 && i+3 > cut {
		cut = i
	}
	return name[:cut] + suffix, true
}

func exportMailbox(ctx context.Context, st Store, m store.Mailbox, dir string, res *Result, progress func()) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	msgs, err := st.List(m.ID)
	if err != nil {
		return err
	}
	kw := &keywordTable{}
	var uidlist strings.Builder
	fmt.Fprintf(&uidlist, "3 V%d N%d\n", m.UIDValidity, m.UIDNext)
	pid := os.Getpid()
	for _, msg := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := st.ReadMessage(m.ID, msg.UID)
		if errors.Is(err, store.ErrNoMessage) {
			continue // expunged meanwhile
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", msg.UID, err)
		}
		body = toLF(body)
		// time.unique.host, unique by UIDVALIDITY and UID; S= is the
		// file's size, which Dovecot trusts for quota and RFC822.SIZE.
		base := fmt.Sprintf("%d.M%dP%dV%dU%d.petrel,S=%d", msg.InternalDate.Unix(), msg.UID, pid, m.UIDValidity, msg.UID, len(body))
		name := base + ":2," + kw.letters(msg.Flags)
		tmp := filepath.Join(dir, "tmp", base)
		if err := os.WriteFile(tmp, body, 0o600); err != nil {
			return err
		}
		if err := os.Chtimes(tmp, msg.InternalDate, msg.InternalDate); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "cur", name)); err != nil {
			return err
		}
		fmt.Fprintf(&uidlist, "%d :%s\n", msg.UID, base)
		res.Messages++
		res.Copies++
		res.Bytes += int64(len(body))
		progress()
	}
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(uidlist.String()), 0o600); err != nil {
		return err
	}
	res.DroppedKeywords += kw.dropped
	if len(kw.names) > 0 {
		var b strings.Builder
		for i, k := range kw.names {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
		if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// keywordTable gives keywords the letters a–z of one maildir, in order of
// first use. Maildir has room for 26; further keywords are dropped.
type keywordTable struct {
	names   []string
	dropped int
}

// letters is the sorted info letters of flags (ASCII order: system flags
// in upper case first, then keyword letters).
func (k *keywordTable) letters(flags []string) string {
	var out []byte
	for _, f := range flags {
		found := false
		for _, mf := range maildirFlags {
			// Dovecot reads 'P' as nothing and keeps $Forwarded as a
			// keyword, so it is written as one (import takes both).
			if mf.letter != 'P' && strings.EqualFold(mf.flag, f) {
				out = append(out, mf.letter)
				found = true
			}
		}
		if found || strings.HasPrefix(f, `\`) {
			continue
		}
		i := slices.Index(k.names, f)
		if i < 0 {
			if len(k.names) == 26 {
				k.dropped++
				continue
			}
			k.names = append(k.names, f)
			i = len(k.names) - 1
		}
		out = append(out, byte('a'+i))
	}
	slices.Sort(out)
	return string(out)
}
