package mailio_test

import (
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"petrel/internal/testenv"
	"petrel/mailio"
	"petrel/store/storetest"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dovecot runs Dovecot's imap binary pre-authenticated on a Maildir (the
// way `doveadm` and dsync use it), so tests can make a real Dovecot Maildir
// and read Petrel's exports with Dovecot itself. Dovecot refuses to touch
// mail as root, so under root it runs as nobody.
type dovecot struct {
	bin, dir, conf, maildir string
	uid, gid                int
}

func newDovecot(t *testing.T) *dovecot {
	t.Helper()
	bin := testenv.RequireTool(t, "imap") // /usr/lib/dovecot/imap, from dovecot-imapd
	dir, err := os.MkdirTemp("", "petrel-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	d := &dovecot{bin: bin, dir: dir, conf: filepath.Join(dir, "dovecot.conf"), maildir: filepath.Join(dir, "Maildir"), uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		d.uid, d.gid = 65534, 65534
	}
	conf := "base_dir = " + dir + "/run\nstate_dir = " + dir + "/state\nlog_path = " + dir + "/dovecot.log\n" +
		"mail_location = maildir:" + d.maildir + "\nssl = no\n"
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// client starts a Dovecot imap process and returns a go-imap client
// talking to it over its stdin and stdout.
func (d *dovecot) client(t *testing.T) *imapclient.Client {
	t.Helper()
	if d.uid >= 0 {
		filepath.WalkDir(d.dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				os.Lchown(p, d.uid, d.gid)
			}
			return nil
		})
	}
	cmd := exec.Command(d.bin, "-c", d.conf)
	cmd.Env = []string{"HOME=" + d.dir, "USER=petrel"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if d.uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(d.uid), Gid: uint32(d.gid)}}
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(&pipeConn{Reader: out, WriteCloser: in}, nil)
	t.Cleanup(func() {
		c.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("dovecot's stderr:\n%s", stderr.String())
		}
	})
	if err := c.WaitGreeting(); err != nil {
		t.Fatalf("dovecot greeting: %v", err)
	}
	return c
}

// pipeConn makes a process's pipes a net.Conn for imapclient.
type pipeConn struct {
	io.Reader
	io.WriteCloser
}

func (pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (pipeConn) SetDeadline(time.Time) error      { return nil }
func (pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (pipeConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "dovecot" }

func imapFlags(flags []string) []imap.Flag {
	var out []imap.Flag
	for _, f := range flags {
		out = append(out, imap.Flag(f))
	}
	return out
}

// dovecotMessages fetches a mailbox's messages from Dovecot.
func dovecotMessages(t *testing.T, c *imapclient.Client, mailbox string) []stored {
	t.Helper()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("dovecot SELECT %s: %v", mailbox, err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		if strings.Contains(err.Error(), "Invalid messageset") || strings.Contains(err.Error(), "No messages") {
			return nil
		}
		t.Fatalf("dovecot FETCH %s: %v", mailbox, err)
	}
	var out []stored
	for _, m := range msgs {
		var flags []string
		for _, f := range m.Flags {
			if !strings.EqualFold(string(f), `\Recent`) {
				flags = append(flags, string(f))
			}
		}
		slices.Sort(flags)
		out = append(out, stored{string(m.FindBodySection(section)), flags, m.InternalDate})
	}
	return out
}

// TestImportRealDovecotMaildir has Dovecot write a Maildir (folders,
// keywords, every system flag, internal dates) and imports it.
func TestImportRealDovecotMaildir(t *testing.T) {
	d := newDovecot(t)
	c := d.client(t)
	date := time.Date(2021, 1, 5, 10, 0, 0, 0, time.UTC)
	want := map[string][]stored{
		"INBOX": {
			{"From: a@example.org\r\nSubject: one\r\n\r\nhello\r\n", []string{"$Junk", `\Seen`}, date},
			{"From: b@example.org\r\nSubject: two\r\n\r\nFrom here\r\n", []string{"Custom1", `\Answered`, `\Flagged`, `\Seen`}, date.Add(time.Hour)},
			{"Subject: three\r\n\r\nunread\r\n", nil, date.Add(2 * time.Hour)},
			{"Subject: four\r\n\r\ntrash me\r\n", []string{"$Forwarded", `\Deleted`, `\Draft`}, date.Add(3 * time.Hour)},
		},
		"Sent":      {{"Subject: sent\r\n\r\nout\r\n", []string{`\Seen`}, date}},
		"Work/2024": {{"Subject: nested\r\n\r\nn\r\n", []string{"Custom1"}, date}},
	}
	for _, name := range []string{"Sent", "Work.2024"} { // '.' is Dovecot's Maildir++ separator
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("dovecot CREATE %s: %v", name, err)
		}
	}
	for name, msgs := range want {
		for _, m := range msgs {
			cmd := c.Append(strings.ReplaceAll(name, "/", "."), int64(len(m.Body)), &imap.AppendOptions{Flags: imapFlags(m.Flags), Time: m.Date})
			cmd.Write([]byte(m.Body))
			cmd.Close()
			if _, err := cmd.Wait(); err != nil {
				t.Fatalf("dovecot APPEND: %v", err)
			}
		}
	}
	c.Logout().Wait()
	if _, err := os.Stat(filepath.Join(d.maildir, "dovecot-keywords")); err != nil {
		t.Fatalf("Dovecot wrote no dovecot-keywords: %v", err)
	}

	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@example.com")
	res, err := mailio.ImportMaildir(context.Background(), st, acct.ID, d.maildir, mailio.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 6 {
		t.Errorf("imported %d messages, want 6", res.Messages)
	}
	for name, msgs := range want {
		sameContents(t, name, contents(t, st, acct.ID, name), msgs)
	}
}

// TestExportReadByDovecot exports an account and has Dovecot read it back:
// same mailboxes, bytes, flags, keywords and internal dates.
func TestExportReadByDovecot(t *testing.T) {
	d := newDovecot(t)
	ctx := context.Background()
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@example.com")
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	layout := map[string][]stored{
		"INBOX": {
			{"Subject: a\r\n\r\nA\r\n", []string{`\Seen`}, date},
			{"Subject: b\r\n\r\nB\r\n", []string{"$Forwarded", "$Junk", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}, date.Add(time.Second)},
			{"Subject: c\r\n\r\nC\r\n", nil, date.Add(2 * time.Second)},
		},
		"Sent":            {{"Subject: s\r\n\r\nS\r\n", []string{"Work", `\Seen`}, date}},
		"Projects/Petrel": {{"Subject: p\r\n\r\nP\r\n", []string{"$Important"}, date}},
	}
	for name, msgs := range layout {
		m, err := st.MailboxByName(acct.ID, name)
		if err != nil {
			if m, err = st.CreateMailbox(ctx, acct.ID, name, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, msg := range msgs {
			if _, err := st.Append(ctx, m.ID, []byte(msg.Body), msg.Flags, msg.Date); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := mailio.ExportMaildir(ctx, st, acct.ID, d.maildir, mailio.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := d.client(t)
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, strings.ReplaceAll(l.Mailbox, string(l.Delim), "/"))
	}
	for _, want := range []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects/Petrel"} {
		if !slices.Contains(names, want) {
			t.Errorf("Dovecot does not list %s (lists %v)", want, names)
		}
	}
	for name, msgs := range layout {
		sameContents(t, "dovecot "+name, dovecotMessages(t, c, strings.ReplaceAll(name, "/", ".")), msgs)
	}
}
