package imap_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"

	pimap "petrel/imap"
	"petrel/internal/testenv"
	"petrel/store"
	"petrel/store/storetest"
	"petrel/tlsconf"
)

// TestMbsync: isync's mbsync pulls a mailbox of a few hundred messages
// over STARTTLS and COMPRESS=DEFLATE into a Maildir, then pushes back a
// flag, a deletion and a new message; the server's store is checked
// directly. mbsync flushes its deflater with Z_PARTIAL_FLUSH: before
// internal/inflate, the server waited for more input after each command.
func TestMbsync(t *testing.T) {
	mbsync := testenv.RequireTool(t, "mbsync")
	const n = 300
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "user@example.org")

	certPEM, keyPEM, err := tlsconf.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := pimap.New(pimap.Options{Store: st, Logger: quietLogger(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	// Deliver in parallel so the store's group commit keeps this quick.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				_, err := st.Deliver(context.Background(), &store.Delivery{
					Body:    []byte(crlf(simpleMsg(fmt.Sprintf("message %03d", i), fmt.Sprintf("body of %d", i)))),
					Targets: []store.Target{{Account: acct.ID}},
				})
				errs <- err
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	port := l.Addr().(*net.TCPAddr).Port
	cfg := fmt.Sprintf(`IMAPAccount petrel
Host 127.0.0.1
Port %d
User user@example.org
Pass secret
SSLType STARTTLS
CertificateFile %s

IMAPStore petrel-remote
Account petrel

MaildirStore petrel-local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel petrel
Far :petrel-remote:
Near :petrel-local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
`, port, filepath.Join(dir, "cert.pem"), maildir, maildir)
	must(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "mbsyncrc"), []byte(cfg), 0o600))
	must(t, os.MkdirAll(maildir, 0o700))
	run := func() string {
		t.Helper()
		// -Dn: the protocol dialogue, to see COMPRESS (RFC 4978) taken.
		cmd := exec.Command(mbsync, "-Dn", "-c", filepath.Join(dir, "mbsyncrc"), "-a")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		return string(out)
	}

	if out := run(); !regexp.MustCompile(`(?m)^>>> \d+ COMPRESS DEFLATE\s*$`).MatchString(out) {
		t.Errorf("mbsync did not compress the session (COMPRESS=DEFLATE is advertised):\n%s", out[:min(len(out), 3000)])
	}
	files := maildirFiles(t, filepath.Join(maildir, "INBOX"))
	if len(files) != n {
		t.Fatalf("Maildir has %d messages after sync, want %d", len(files), n)
	}
	find := func(subject string) string {
		for _, f := range files {
			b, err := os.ReadFile(f)
			must(t, err)
			if strings.Contains(string(b), "Subject: "+subject+"\r\n") || strings.Contains(string(b), "Subject: "+subject+"\n") {
				return f
			}
		}
		t.Fatalf("no file with subject %q", subject)
		return ""
	}
	// Flag one, delete one, add one.
	flagged, deleted := find("message 007"), find("message 100")
	must(t, os.Rename(flagged, flagged+"F"))
	must(t, os.Remove(deleted))
	newMsg := crlf(simpleMsg("written offline", "hello from the Maildir"))
	must(t, os.WriteFile(filepath.Join(maildir, "INBOX", "new", "1700000000.offline.host"), []byte(newMsg), 0o600))

	run()

	inbox := storetest.Inbox(t, st, acct)
	msgs, err := st.List(inbox.ID)
	must(t, err)
	if len(msgs) != n {
		t.Errorf("server has %d messages, want %d (one deleted, one added)", len(msgs), n)
	}
	var subjects []string
	var flaggedSubjects []string
	for _, m := range msgs {
		p, err := st.Structure(inbox.ID, m.UID)
		must(t, err)
		subjects = append(subjects, p.Envelope.Subject)
		if m.Has(string(imap.FlagFlagged)) {
			flaggedSubjects = append(flaggedSubjects, p.Envelope.Subject)
		}
	}
	if slices.Contains(subjects, "message 100") {
		t.Errorf("message deleted in the Maildir is still on the server")
	}
	if !slices.Contains(subjects, "written offline") {
		t.Errorf("message added to the Maildir did not reach the server")
	}
	if !slices.Equal(flaggedSubjects, []string{"message 007"}) {
		t.Errorf("flagged on server: %v, want [message 007]", flaggedSubjects)
	}
}

func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
