package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"petrel/mailio"
)

// exported is one message of a Maildir as the tests compare it: LF body
// and flag names, sorted.
type exported struct {
	Body  string
	Flags string
}

// letterFlags are the Maildir info letters and the flags they stand for.
var letterFlags = map[byte]string{'D': `\Draft`, 'F': `\Flagged`, 'P': "$Forwarded", 'R': `\Answered`, 'S': `\Seen`, 'T': `\Deleted`}

// readMaildir reads the messages of one Maildir folder (cur/ and new/),
// resolving keyword letters through dovecot-keywords, sorted by body.
func readMaildir(t *testing.T, dir string) []exported {
	t.Helper()
	keywords := map[byte]string{}
	if b, err := os.ReadFile(filepath.Join(dir, "dovecot-keywords")); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			n, name, _ := strings.Cut(line, " ")
			i, _ := strconv.Atoi(n)
			keywords[byte('a'+i)] = name
		}
	}
	var out []exported
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("maildir folder %s: %v", dir, err)
		}
		for _, e := range entries {
			body, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			var flags []string
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
				for _, c := range []byte(info) {
					if f, ok := letterFlags[c]; ok {
						flags = append(flags, f)
					} else if k, ok := keywords[c]; ok {
						flags = append(flags, k)
					} else {
						t.Errorf("%s: unknown info letter %q", e.Name(), c)
					}
				}
			}
			slices.Sort(flags)
			out = append(out, exported{string(body), strings.Join(flags, " ")})
		}
	}
	slices.SortFunc(out, func(a, b exported) int { return strings.Compare(a.Body, b.Body) })
	return out
}

func sameMessages(t *testing.T, what string, got, want []exported) {
	t.Helper()
	slices.SortFunc(want, func(a, b exported) int { return strings.Compare(a.Body, b.Body) })
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: message %d is\n%+v\nwant\n%+v", what, i, got[i], want[i])
		}
	}
}

// writeMbox writes n messages, every fifth read, every fifth answered and
// flagged, some with keywords and lines that mboxrd must escape; it returns
// them as an export should give them back.
func writeMbox(t *testing.T, path string, n int, subject string) []exported {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := mailio.NewMboxWriter(f)
	base := time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC)
	var want []exported
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "From: sender%d@crepes.fr\nTo: bob@hamburger.edu\nSubject: %s %d\nMessage-ID: <%s.%d@crepes.fr>\n", i, subject, i, subject, i)
		flags := ""
		switch i % 5 {
		case 0:
			b.WriteString("Status: RO\n")
			flags = `\Seen`
		case 1:
			b.WriteString("Status: RO\nX-Status: AF\n")
			flags = `\Answered \Flagged \Seen`
		case 2:
			b.WriteString("X-Keywords: $Label1 Work\n")
			flags = "$Label1 Work"
		}
		fmt.Fprintf(&b, "\nBody of %d.\n", i)
		if i%3 == 0 {
			b.WriteString("\nFrom the desk of nobody\n>From an escaped line\n")
		}
		body := b.String()
		if err := w.Write(fmt.Sprintf("sender%d@crepes.fr", i), base.Add(time.Duration(i)*time.Minute), []byte(body)); err != nil {
			t.Fatal(err)
		}
		want = append(want, exported{body, flags})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// writeMaildir makes a Maildir++ with flags and keywords in its root and
// a .Sent folder, and returns the messages of each folder.
func writeMaildir(t *testing.T, root string) (top, sent []exported) {
	t.Helper()
	put := func(dir, name, body string) {
		for _, d := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(s string) string { return "From: carol@crepes.fr\nSubject: " + s + "\n\n" + s + " body\n" }
	put(root, "cur/1700000001.M1P1.host:2,FS", msg("flagged and seen"))
	put(root, "cur/1700000002.M2P1.host:2,Rab", msg("answered with keywords"))
	put(root, "cur/1700000003.M3P1.host:2,", msg("unread"))
	put(root, "cur/1700000004.M4P1.host:2,DT", msg("draft, deleted"))
	put(root, "new/1700000005.M5P1.host", msg("new"))
	os.WriteFile(filepath.Join(root, "dovecot-keywords"), []byte("0 Work\n1 $Important\n"), 0o644)
	put(filepath.Join(root, ".Sent"), "cur/1700000006.M6P1.host:2,S", msg("sent one"))
	put(filepath.Join(root, ".Sent"), "cur/1700000007.M7P1.host:2,RS", msg("sent two"))
	top = []exported{
		{msg("flagged and seen"), `\Flagged \Seen`},
		{msg("answered with keywords"), `$Important Work \Answered`},
		{msg("unread"), ""},
		{msg("draft, deleted"), `\Deleted \Draft`},
		{msg("new"), ""},
	}
	sent = []exported{{msg("sent one"), `\Seen`}, {msg("sent two"), `\Answered \Seen`}}
	return top, sent
}

// Import an mbox and a Maildir, export the account, and find every message
// with its flags in the export: with the server stopped (on the store file)
// and running (through its control socket).
func TestImportExport(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprintf("running=%v", running), func(t *testing.T) {
			in := newInstance(t)
			if _, errOut, code := in.petrel("pw\n", "user", "add", "--force", "bob@hamburger.edu"); code != 0 {
				t.Fatalf("user add: %s", errOut)
			}
			if running {
				in.start()
			}
			src := t.TempDir()

			const n = 1200
			mbox := filepath.Join(src, "inbox.mbox")
			wantInbox := writeMbox(t, mbox, n, "inbox")
			out, errOut, code := in.petrel("", "import", "mbox", "bob@hamburger.edu", mbox)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("imported %d messages into bob@hamburger.edu/INBOX", n)) {
				t.Fatalf("import mbox: exit %d\nstdout %q\nstderr %q", code, out, errOut)
			}
			// stderr is not a terminal: a plain line each 1000 messages.
			if !strings.Contains(errOut, fmt.Sprintf("imported 1000 of %d messages\n", n)) || strings.Contains(errOut, "\r") {
				t.Errorf("import progress on a non-terminal stderr: %q", errOut)
			}

			// --mailbox names the mailbox, made if need be.
			lists := filepath.Join(src, "lists.mbox")
			wantLists := writeMbox(t, lists, 3, "list")
			out, errOut, code = in.petrel("", "import", "mbox", "--mailbox", "Archive/Lists", "bob@hamburger.edu", lists)
			if code != 0 || !strings.Contains(out, "imported 3 messages into bob@hamburger.edu/Archive/Lists") {
				t.Fatalf("import mbox --mailbox: exit %d %q %q", code, out, errOut)
			}

			md := filepath.Join(src, "Maildir")
			wantOld, wantSent := writeMaildir(t, md)
			out, errOut, code = in.petrel("", "import", "maildir", "bob@hamburger.edu", md, "--mailbox", "Old")
			if code != 0 || !strings.Contains(out, "imported 7 messages into 2 mailboxes of bob@hamburger.edu: Old, Old/Sent") {
				t.Fatalf("import maildir: exit %d %q %q", code, out, errOut)
			}

			dst := filepath.Join(t.TempDir(), "export")
			out, errOut, code = in.petrel("", "export", "bob@hamburger.edu", dst)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("exported %d messages", n+3+7)) {
				t.Fatalf("export: exit %d %q %q", code, out, errOut)
			}
			if !strings.Contains(errOut, fmt.Sprintf("exported 1000 of %d messages\n", n+3+7)) {
				t.Errorf("export progress: %q", errOut)
			}
			sameMessages(t, "INBOX", readMaildir(t, dst), wantInbox)
			sameMessages(t, "Archive/Lists", readMaildir(t, filepath.Join(dst, ".Archive.Lists")), wantLists)
			sameMessages(t, "Old", readMaildir(t, filepath.Join(dst, ".Old")), wantOld)
			sameMessages(t, "Old/Sent", readMaildir(t, filepath.Join(dst, ".Old.Sent")), wantSent)

			// A second export into the same directory is refused.
			_, errOut, code = in.petrel("", "export", "bob@hamburger.edu", dst)
			if code != 1 || !strings.Contains(errOut, "is not empty") {
				t.Errorf("export into a full directory: exit %d %q", code, errOut)
			}
		})
	}
}

// Wrong arguments give one line that says what is wrong, and a non-zero
// exit: 2 for a malformed command line, 1 for a bad account or path.
func TestImportErrors(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprintf("running=%v", running), func(t *testing.T) {
			in := newInstance(t)
			in.petrel("pw\n", "user", "add", "--force", "bob@hamburger.edu")
			if running {
				in.start()
			}
			dir := t.TempDir()
			mbox := filepath.Join(dir, "mail.mbox")
			writeMbox(t, mbox, 2, "x")
			notMbox := filepath.Join(dir, "notes.txt")
			os.WriteFile(notMbox, []byte("just some text\n"), 0o644)
			full := filepath.Join(dir, "full")
			os.MkdirAll(filepath.Join(full, "cur"), 0o755)
			cases := []struct {
				args []string
				code int
				want string
			}{
				{[]string{"import"}, 2, "import needs a subcommand: one of maildir, mbox"},
				{[]string{"import", "tar", "bob@hamburger.edu", mbox}, 2, `import: unknown subcommand "tar" (want one of: maildir, mbox)`},
				{[]string{"import", "mbox", "bob@hamburger.edu"}, 2, "usage: petrel import mbox|maildir ADDRESS PATH [--mailbox NAME]"},
				{[]string{"import", "mbox", "bob@hamburger.edu", mbox, "extra"}, 2, "usage: petrel import mbox|maildir ADDRESS PATH"},
				{[]string{"import", "mbox", "bob@hamburger.edu", filepath.Join(dir, "missing.mbox")}, 1, "import mbox: stat " + filepath.Join(dir, "missing.mbox") + ": no such file or directory"},
				{[]string{"import", "mbox", "bob@hamburger.edu", dir}, 1, "is a directory (for a Maildir, use `petrel import maildir`)"},
				{[]string{"import", "maildir", "bob@hamburger.edu", mbox}, 1, "is not a directory (for an mbox file, use `petrel import mbox`)"},
				{[]string{"import", "mbox", "bob@hamburger.edu", notMbox}, 1, "not an mbox file"},
				{[]string{"import", "mbox", "nobody@hamburger.edu", mbox}, 1, "import mbox: there is no account nobody@hamburger.edu (add it first with `petrel user add nobody@hamburger.edu`)"},
				{[]string{"import", "maildir", "not-an-address", full}, 1, "is not an email address"},
				{[]string{"import", "mbox", "bob@hamburger.edu", mbox, "--mailbox", ""}, 0, "imported 2 messages into bob@hamburger.edu/INBOX"},
				{[]string{"import", "mbox", "bob@hamburger.edu", mbox, "--mailbox", "a//b"}, 1, "a//b"},
				{[]string{"export", "bob@hamburger.edu"}, 2, "usage: petrel export ADDRESS DIR"},
				{[]string{"export", "nobody@hamburger.edu", filepath.Join(dir, "out")}, 1, "export: there is no account nobody@hamburger.edu"},
				{[]string{"export", "bob@hamburger.edu", full}, 1, "is not empty"},
				{[]string{"export", "bob@hamburger.edu", filepath.Join(dir, "out2"), "--mailbox", "INBOX"}, 2, "--mailbox is for petrel import"},
			}
			for _, c := range cases {
				out, errOut, code := in.petrel("", c.args...)
				text := errOut
				if c.code == 0 {
					text = out
				}
				if code != c.code || !strings.Contains(text, c.want) {
					t.Errorf("petrel %q: exit %d, %q %q; want exit %d with %q", c.args, code, out, errOut, c.code, c.want)
				}
				if c.code == 1 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
					t.Errorf("petrel %q: more than one line of error:\n%s", c.args, errOut)
				}
				if c.code == 2 && strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
					t.Errorf("petrel %q: more than the error and the hint:\n%s", c.args, errOut)
				}
			}
		})
	}
}

// petrel reindex parses every stored message again, stopped or running,
// with progress on stderr; an argument is refused.
func TestReindexCommand(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprintf("running=%v", running), func(t *testing.T) {
			in := newInstance(t)
			if _, errOut, code := in.petrel("pw\n", "user", "add", "--force", "bob@hamburger.edu"); code != 0 {
				t.Fatalf("user add: %s", errOut)
			}
			const n = 1100
			mbox := filepath.Join(t.TempDir(), "inbox.mbox")
			writeMbox(t, mbox, n, "inbox")
			if _, errOut, code := in.petrel("", "import", "mbox", "bob@hamburger.edu", mbox); code != 0 {
				t.Fatalf("import: %s", errOut)
			}
			if running {
				in.start()
			}
			out, errOut, code := in.petrel("", "reindex")
			if code != 0 || out != fmt.Sprintf("reindexed %d messages\n", n) {
				t.Fatalf("reindex: exit %d\nstdout %q\nstderr %q", code, out, errOut)
			}
			if !strings.Contains(errOut, fmt.Sprintf("reindexed 1000 of %d messages\n", n)) {
				t.Errorf("reindex progress: %q", errOut)
			}
			_, errOut, code = in.petrel("", "reindex", "now")
			if code != 2 || !strings.Contains(errOut, "usage: petrel reindex") {
				t.Errorf("reindex with an argument: exit %d %q", code, errOut)
			}
		})
	}
}
