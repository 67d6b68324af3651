package pop3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/internal/testenv"
	"petrel/pop3"
	"petrel/store"
)

// maildrop returns n test messages, each with a unique Message-ID and a
// mix of what POP3 must carry intact: lines starting with dots, 8-bit
// text, long lines, a last line without a line end.
func maildrop(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nMessage-ID: <%d@test.example>\r\nSubject: message %d caf\xc3\xa9\r\n\r\n", i, i)
		for j := 0; j < 20+i%40; j++ {
			switch j % 5 {
			case 0:
				fmt.Fprintf(&b, ".dot line %d\r\n", j)
			case 1:
				fmt.Fprintf(&b, "na\xc3\xafve 8-bit \xe2\x82\xac %d\r\n", j)
			case 2:
				fmt.Fprintf(&b, "%s\r\n", strings.Repeat("long ", 150))
			case 3:
				b.WriteString(".\r\n")
			default:
				fmt.Fprintf(&b, "line %d of message %d\r\n", j, i)
			}
		}
		if i%7 == 0 {
			b.WriteString("no line end at the end")
		}
		out[i] = b.Bytes()
	}
	return out
}

// deliverAll delivers msgs concurrently (the store commits them in groups).
func (e *env) deliverAll(t testing.TB, msgs [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.st.Deliver(context.Background(), &store.Delivery{Body: m, Targets: []store.Target{{Account: e.acct.ID}}}); err != nil {
				t.Errorf("deliver: %v", err)
			}
		}()
	}
	wg.Wait()
}

var messageID = regexp.MustCompile(`(?m)^Message-ID: <(\d+)@test.example>`)

// fetchmail runs fetchmail once against e, over STLS with the test CA,
// delivering to an MDA that saves one file per message in a new directory;
// it returns the saved messages by Message-ID number.
func (e *env) fetchmail(t *testing.T, dir, caFile string, keep bool) map[string][]byte {
	t.Helper()
	bin := testenv.RequireTool(t, "fetchmail")
	sink := newSMTPSink(t)
	_, port, _ := strings.Cut(e.addr, ":")
	mode := "nokeep"
	if keep {
		mode = "keep"
	}
	rc := filepath.Join(dir, "fetchmailrc")
	conf := fmt.Sprintf(`set no syslog
poll localhost via 127.0.0.1 with proto POP3 port %s uidl
  user "alice@example.org" there with password "secret" is "tester" here
  options %s no rewrite sslproto "TLS1.2+" sslcertck sslcertfile "%s" sslcommonname "localhost"
  smtphost "%s" smtpaddress "localhost"
`, port, mode, caFile, strings.Replace(sink.addr, ":", "/", 1))
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", rc, "-N", "--nosyslog", "--invisible", "-i", filepath.Join(dir, "fetchids"), "--pidfile", filepath.Join(dir, "pid"))
	cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	start := time.Now()
	log, err := cmd.CombinedOutput()
	t.Logf("fetchmail took %v", time.Since(start))
	// Exit status 1 means "no mail", which the keep-mode rerun expects.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("fetchmail: %v\n%s", err, log)
	}
	t.Logf("fetchmail %s: %s", mode, lastLines(string(log), 3))
	got := map[string][]byte{}
	for _, b := range sink.messages() {
		m := messageID.FindSubmatch(b)
		if m == nil {
			t.Fatalf("delivered message without a test Message-ID:\n%s", b)
		}
		if _, dup := got[string(m[1])]; dup {
			t.Errorf("message %s delivered twice", m[1])
		}
		got[string(m[1])] = b
	}
	return got
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// asFetchmailDelivers is a message as fetchmail forwards it by SMTP: the
// RETR text, whose last line always ends in CRLF.
func asFetchmailDelivers(msg []byte) []byte {
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		return append(bytes.Clone(msg), "\r\n"...)
	}
	return msg
}

// smtpSink is the SMTP server fetchmail forwards to. (An MDA would cost a
// process per message, which on a loaded CI box is most of the run.)
type smtpSink struct {
	addr string
	mu   sync.Mutex
	msgs [][]byte
}

func newSMTPSink(t *testing.T) *smtpSink {
	k := &smtpSink{}
	srv := smtp.NewServer(k)
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	l := listen(t)
	k.addr = l.Addr().String()
	go srv.Serve(quickAckListener{l})
	t.Cleanup(func() { srv.Close() })
	return k
}

func (k *smtpSink) messages() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.msgs
}

func (k *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{k}, nil }

type sinkSession struct{ k *smtpSink }

func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	s.k.msgs = append(s.k.msgs, b)
	s.k.mu.Unlock()
	return nil
}

// TestFetchmail downloads a maildrop of 300 messages with fetchmail over
// STLS, in keep mode (twice: the second run, going by UIDL, fetches only
// what is new) and then in no-keep mode, and compares every message byte
// for byte.
func TestFetchmail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serverTLS, caFile := testCA(t)
	e := newEnv(t, func(o *pop3.Options) { o.TLSConfig = serverTLS })
	msgs := maildrop(300)
	e.deliverAll(t, msgs[:290])

	check := func(got map[string][]byte, want [][]byte, ids []int) {
		t.Helper()
		if len(got) != len(ids) {
			t.Errorf("fetchmail delivered %d messages, want %d", len(got), len(ids))
		}
		for _, i := range ids {
			g, ok := got[fmt.Sprint(i)]
			if !ok {
				t.Errorf("message %d not delivered", i)
				continue
			}
			if w := asFetchmailDelivers(want[i]); !bytes.Equal(g, w) {
				t.Errorf("message %d differs:\n got %q\nwant %q", i, g, w)
			}
		}
	}
	seq := func(from, to int) []int {
		var s []int
		for i := from; i < to; i++ {
			s = append(s, i)
		}
		return s
	}

	check(e.fetchmail(t, dir, caFile, true), msgs, seq(0, 290))
	if n := len(e.inboxUIDs(t)); n != 290 {
		t.Fatalf("after keep: INBOX has %d messages, want 290", n)
	}
	e.deliverAll(t, msgs[290:])
	check(e.fetchmail(t, dir, caFile, true), msgs, seq(290, 300))

	os.Remove(filepath.Join(dir, "fetchids"))
	check(e.fetchmail(t, dir, caFile, false), msgs, seq(0, 300))
	if n := len(e.inboxUIDs(t)); n != 0 {
		t.Fatalf("after no-keep: INBOX has %d messages, want 0", n)
	}
}
