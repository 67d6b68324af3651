package mailio_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"petrel/mailio"
	"petrel/store"
	"petrel/store/storetest"
)

type progressLog struct{ calls [][2]int }

func (p *progressLog) fn(done, total int) { p.calls = append(p.calls, [2]int{done, total}) }

// check asserts the progress calls counted up to total.
func (p *progressLog) check(t *testing.T, total int) {
	t.Helper()
	if len(p.calls) < 2 {
		t.Fatalf("progress called %d times", len(p.calls))
	}
	last := p.calls[len(p.calls)-1]
	if last != [2]int{total, total} {
		t.Errorf("last progress %v, want [%d %d]", last, total, total)
	}
	for i := 1; i < len(p.calls); i++ {
		if p.calls[i][0] < p.calls[i-1][0] || p.calls[i][1] != total {
			t.Errorf("progress went %v then %v", p.calls[i-1], p.calls[i])
		}
	}
}

// mailbox is a mailbox's messages as compared by the tests.
type stored struct {
	Body  string
	Flags []string
	Date  time.Time
}

func contents(t *testing.T, st *store.Store, acct uint64, name string) []stored {
	t.Helper()
	m, err := st.MailboxByName(acct, name)
	if err != nil {
		t.Fatalf("mailbox %s: %v", name, err)
	}
	msgs, err := st.List(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for _, msg := range msgs {
		b, err := st.ReadMessage(m.ID, msg.UID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stored{string(b), msg.Flags, msg.InternalDate})
	}
	return out
}

func sameContents(t *testing.T, what string, got, want []stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].Body != want[i].Body {
			t.Errorf("%s message %d body:\n%q\nwant\n%q", what, i, got[i].Body, want[i].Body)
		}
		if !slices.Equal(got[i].Flags, want[i].Flags) {
			t.Errorf("%s message %d flags %v, want %v", what, i, got[i].Flags, want[i].Flags)
		}
		if !got[i].Date.Equal(want[i].Date) {
			t.Errorf("%s message %d date %v, want %v", what, i, got[i].Date, want[i].Date)
		}
	}
}

// genMessage makes message i with bodies that exercise mbox escaping.
func genMessage(i int) (body string, flags []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "From: sender%d@example.org\r\nTo: you@example.com\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n", i, i, i)
	switch i % 5 {
	case 0:
		b.WriteString("Status: RO\r\n")
		flags = []string{`\Seen`}
	case 1:
		b.WriteString("Status: RO\r\nX-Status: AF\r\n")
		flags = []string{`\Answered`, `\Flagged`, `\Seen`}
	case 2:
		b.WriteString("X-Keywords: $Label1 Work\r\n")
		flags = []string{"$Label1", "Work"}
	}
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "Line one of %d.\r\n", i)
	if i%3 == 0 {
		b.WriteString("\r\nFrom the desk of nobody, at 10:00 sharp\r\n>From an escaped line\r\n")
	}
	if i%7 == 0 {
		b.WriteString("\r\n\r\n") // trailing blank lines
	}
	b.WriteString(strings.Repeat("x", i%300) + "\r\n")
	return b.String(), flags
}

// TestMbox1000RoundTrip writes 1,000 messages as mboxrd, imports them,
// exports the account to Maildir and imports that into a second account:
// both must hold the original bytes, flags and dates.
func TestMbox1000RoundTrip(t *testing.T) {
	const n = 1000
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@example.com")
	path := filepath.Join(t.TempDir(), "mail.mbox")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := mailio.NewMboxWriter(f)
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []stored
	for i := range n {
		body, flags := genMessage(i)
		date := base.Add(time.Duration(i) * time.Hour)
		if err := w.Write(fmt.Sprintf("sender%d@example.org", i), date, []byte(strings.ReplaceAll(body, "\r\n", "\n"))); err != nil {
			t.Fatal(err)
		}
		slices.Sort(flags)
		want = append(want, stored{body, flags, date})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var prog progressLog
	start := time.Now()
	res, err := mailio.ImportMbox(context.Background(), st, acct.ID, path, mailio.ImportOptions{Mailbox: "Old mail", Progress: prog.fn})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d messages (%d bytes) in %v", res.Messages, res.Bytes, time.Since(start))
	if res.Messages != n || res.Copies != n || res.Skipped != 0 || !slices.Equal(res.Created, []string{"Old mail"}) {
		t.Errorf("result %+v", res)
	}
	prog.check(t, n)
	sameContents(t, "mbox import", contents(t, st, acct.ID, "Old mail"), want)

	dir := filepath.Join(t.TempDir(), "Maildir")
	var eprog progressLog
	start = time.Now()
	eres, err := mailio.ExportMaildir(context.Background(), st, acct.ID, dir, mailio.ExportOptions{Progress: eprog.fn})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exported %d messages in %v", eres.Messages, time.Since(start))
	eprog.check(t, n)
	if _, err := os.Stat(filepath.Join(dir, ".Old mail", "cur")); err != nil {
		t.Errorf("no Maildir++ folder for \"Old mail\": %v", err)
	}

	acct2 := storetest.Account(t, st, "copy@example.com")
	if _, err := mailio.ImportMaildir(context.Background(), st, acct2.ID, dir, mailio.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, "maildir re-import", contents(t, st, acct2.ID, "Old mail"), want)
	for _, m := range store.DefaultMailboxes {
		if _, err := st.MailboxByName(acct2.ID, m.Name); err != nil {
			t.Errorf("mailbox %s missing after re-import: %v", m.Name, err)
		}
	}
}

// TestExportReimportIdentical exports mailboxes with awkward names, flags
// and keywords, and re-imports them into another account.
func TestExportReimportIdentical(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	src := storetest.Account(t, st, "src@example.com")
	date := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	layout := map[string][]stored{
		"INBOX": {
			{"Subject: a\r\n\r\nA\r\n", []string{`\Seen`}, date},
			{"Subject: b\r\n\r\nB\r\n", []string{"$Forwarded", "$Junk", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}, date.Add(time.Second)},
			{"Subject: c\r\n\r\nC\r\n", nil, date.Add(2 * time.Second)},
		},
		"Sent":             {{"Subject: s\r\n\r\nS\r\n", []string{"Work", `\Seen`}, date}},
		"Projects/Petrel":  {{"Subject: p\r\n\r\nP\r\n", []string{"$Important"}, date}},
		"v1.2 notes":       {{"Subject: dot\r\n\r\nD\r\n", nil, date}},
		`back\slash`:       {{"Subject: bs\r\n\r\nBS\r\n", nil, date}},
		"Empty/Sub":        nil,
		"INBOX/Newsletter": {{"Subject: n\r\n\r\nN\r\n", []string{`\Seen`}, date}},
	}
	for name, msgs := range layout {
		m, err := st.MailboxByName(src.ID, name)
		if err != nil {
			if m, err = st.CreateMailbox(ctx, src.ID, name, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, msg := range msgs {
			if _, err := st.Append(ctx, m.ID, []byte(msg.Body), msg.Flags, msg.Date); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	if _, err := mailio.ExportMaildir(ctx, st, src.ID, dir, mailio.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mailio.ExportMaildir(ctx, st, src.ID, dir, mailio.ExportOptions{}); err == nil {
		t.Errorf("export into a non-empty directory succeeded")
	}
	dst := storetest.Account(t, st, "dst@example.com")
	if _, err := mailio.ImportMaildir(ctx, st, dst.ID, dir, mailio.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	srcBoxes, _ := st.Mailboxes(src.ID)
	dstBoxes, _ := st.Mailboxes(dst.ID)
	names := func(ms []store.Mailbox) (out []string) {
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	if !slices.Equal(names(srcBoxes), names(dstBoxes)) {
		t.Errorf("mailboxes %v, want %v", names(dstBoxes), names(srcBoxes))
	}
	for name := range layout {
		sameContents(t, name, contents(t, st, dst.ID, name), contents(t, st, src.ID, name))
	}
}

// TestDovecotStyleMaildir imports a Maildir laid out as Dovecot keeps one:
// Maildir++ folders, dovecot-keywords, dovecot-uidlist ordering, mail in
// new/ and cur/, and file times as arrival dates.
func TestDovecotStyleMaildir(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string, mtime time.Time) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if !mtime.IsZero() {
			os.Chtimes(p, mtime, mtime)
		}
	}
	t0 := time.Date(2022, 7, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range []string{"", ".Sent", ".Work.2024", `.a\2eb`, ".Trash"} {
		for _, s := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(root, d, s), 0o700)
		}
	}
	write("dovecot-keywords", "0 $Junk\n1 Important\n2 $label3\n", time.Time{})
	// UID order differs from name order: the uidlist wins.
	write("dovecot-uidlist", "3 V1656676800 N4 Gabc\n1 :1656676802.M2P2.host,S=20,W=21\n2 W99 :1656676801.M1P1.host\n3 :1656676803.M3P3.host,S=20,W=21\n", time.Time{})
	write("cur/1656676802.M2P2.host,S=20,W=21:2,S", "Subject: first\n\nbody\n", t0)
	write("cur/1656676801.M1P1.host,S=20,W=21:2,FRSab", "Subject: second\n\nbody\n", t0.Add(time.Minute))
	write("new/1656676803.M3P3.host,S=20,W=21", "Subject: third\n\nnew mail\n", t0.Add(2*time.Minute))
	write("cur/1656676900.M9P9.host:2,TS", "Subject: unlisted\n\ngone soon\n", t0.Add(3*time.Minute))
	write(".Sent/cur/1656677000.M1P1.host:2,S", "Subject: sent\r\n\r\nCRLF already\r\n", t0)
	write(".Sent/maildirfolder", "", time.Time{})
	write(".Work.2024/cur/1656677100.M1P1.host:2,D", "Subject: draft\n\nd\n", t0)
	write(`.a\2eb/cur/1656677200.M1P1.host:2,`, "Subject: dotted\n\nx\n", t0)
	write("cur/.hidden", "not a message", time.Time{})

	ctx := context.Background()
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@example.com")
	var prog progressLog
	res, err := mailio.ImportMaildir(ctx, st, acct.ID, root, mailio.ImportOptions{Progress: prog.fn})
	if err != nil {
		t.Fatal(err)
	}
	prog.check(t, 7)
	if res.Messages != 7 {
		t.Errorf("imported %d, want 7", res.Messages)
	}
	sameContents(t, "INBOX", contents(t, st, acct.ID, "INBOX"), []stored{
		{"Subject: first\r\n\r\nbody\r\n", []string{`\Seen`}, t0},
		{"Subject: second\r\n\r\nbody\r\n", []string{"$Junk", "Important", `\Answered`, `\Flagged`, `\Seen`}, t0.Add(time.Minute)},
		{"Subject: third\r\n\r\nnew mail\r\n", nil, t0.Add(2 * time.Minute)},
		{"Subject: unlisted\r\n\r\ngone soon\r\n", []string{`\Deleted`, `\Seen`}, t0.Add(3 * time.Minute)},
	})
	sameContents(t, "Sent", contents(t, st, acct.ID, "Sent"), []stored{{"Subject: sent\r\n\r\nCRLF already\r\n", []string{`\Seen`}, t0}})
	sameContents(t, "Work/2024", contents(t, st, acct.ID, "Work/2024"), []stored{{"Subject: draft\r\n\r\nd\r\n", []string{`\Draft`}, t0}})
	sameContents(t, "a.b", contents(t, st, acct.ID, "a.b"), []stored{{"Subject: dotted\r\n\r\nx\r\n", nil, t0}})
	if !slices.Contains(res.Created, "Work/2024") || slices.Contains(res.Created, "Sent") {
		t.Errorf("created %v", res.Created)
	}
}

func TestImportIntoNamedMailbox(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"cur", ".Sub/cur"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	os.WriteFile(filepath.Join(root, "cur", "1.M1.h:2,S"), []byte("Subject: r\n\nr\n"), 0o600)
	os.WriteFile(filepath.Join(root, ".Sub/cur", "1.M1.h:2,"), []byte("Subject: s\n\ns\n"), 0o600)
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@example.com")
	if _, err := mailio.ImportMaildir(context.Background(), st, acct.ID, root, mailio.ImportOptions{Mailbox: "Old"}); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, st, acct.ID, "Old"); len(got) != 1 || !strings.Contains(got[0].Body, "Subject: r") {
		t.Errorf("Old: %v", got)
	}
	if got := contents(t, st, acct.ID, "Old/Sub"); len(got) != 1 || !strings.Contains(got[0].Body, "Subject: s") {
		t.Errorf("Old/Sub: %v", got)
	}
	if _, err := mailio.ImportMaildir(context.Background(), st, acct.ID, t.TempDir(), mailio.ImportOptions{}); err == nil {
		t.Errorf("import of a directory without a maildir succeeded")
	}
}

// TestGmailTakeout files messages by X-Gmail-Labels.
func TestGmailTakeout(t *testing.T) {
	mbox := "From 1797867046112296669@xxx Tue Mar 19 10:05:26 +0000 2024\n" +
		"X-GM-THRID: 1797867046112296669\nX-Gmail-Labels: Inbox,Important,Opened,Category Updates,Starred\nSubject: one\n\n1\n\n" +
		"From 1797867046112296670@xxx Tue Mar 19 10:06:26 +0000 2024\n" +
		"X-Gmail-Labels: Sent,\"Clients, 2024\",Work/Acme,Opened\nSubject: two\n\n2\n\n" +
		"From 1797867046112296671@xxx Tue Mar 19 10:07:26 +0000 2024\n" +
		"X-Gmail-Labels: Archived,Unread\nStatus: RO\nSubject: three\n\n3\n\n" +
		"From 1797867046112296672@xxx Tue Mar 19 10:08:26 +0000 2024\n" +
		"X-Gmail-Labels: Spam,Unread\nSubject: four\n\n4\n\n"
	path := filepath.Join(t.TempDir(), "All mail Including Spam and Trash.mbox")
	os.WriteFile(path, []byte(mbox), 0o600)
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@gmail.example")
	res, err := mailio.ImportMbox(context.Background(), st, acct.ID, path, mailio.ImportOptions{GmailLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 4 || res.Copies != 6 {
		t.Errorf("result %+v", res)
	}
	tests := []struct {
		mailbox string
		subject string
		flags   []string
	}{
		{"INBOX", "one", []string{`\Flagged`, `\Seen`}},
		{"Sent", "two", []string{`\Seen`}},
		{"Clients, 2024", "two", []string{`\Seen`}},
		{"Work/Acme", "two", []string{`\Seen`}},
		{"Archive", "three", nil},
		{"Junk", "four", nil},
	}
	for _, tt := range tests {
		got := contents(t, st, acct.ID, tt.mailbox)
		if len(got) != 1 || !strings.Contains(got[0].Body, "Subject: "+tt.subject) || !slices.Equal(got[0].Flags, tt.flags) {
			t.Errorf("%s: %+v, want subject %s flags %v", tt.mailbox, got, tt.subject, tt.flags)
		}
	}
}

func TestImportCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.mbox")
	os.WriteFile(path, []byte("From a Tue Mar 19 10:05:26 2024\nS: x\n\n"), 0o600)
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "you@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mailio.ImportMbox(ctx, st, acct.ID, path, mailio.ImportOptions{}); err == nil {
		t.Errorf("cancelled import succeeded")
	}
	if _, err := mailio.ImportMbox(context.Background(), st, acct.ID, filepath.Join(t.TempDir(), "none"), mailio.ImportOptions{}); err == nil {
		t.Errorf("import of a missing file succeeded")
	}
}
