package mta

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	milter "github.com/d--j/go-milter"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"petrel/filter"
)

// subjectMilter decides by the Subject: "reject", "tempfail", "discard",
// "quarantine", "redirect" (to alice instead of bob); anything else gets
// an X-Filtered field. It notes the macros it saw.
type subjectMilter struct {
	milter.NoOpMilter
	subject string
	seen    *sync.Map
}

func (m *subjectMilter) Header(name, value string, _ milter.Modifier) (*milter.Response, error) {
	if strings.EqualFold(name, "Subject") {
		m.subject = strings.TrimSpace(value)
	}
	return milter.RespContinue, nil
}

func (m *subjectMilter) EndOfMessage(mod milter.Modifier) (*milter.Response, error) {
	for _, n := range []string{"i", "j", "{client_addr}", "{if_addr}", "{auth_authen}", "{auth_type}", "{daemon_name}", "{tls_version}"} {
		if v, ok := mod.GetEx(n); ok {
			m.seen.Store(n, v)
		}
	}
	switch m.subject {
	case "reject":
		return milter.RejectWithCodeAndReason(554, "5.7.1 no thanks")
	case "tempfail":
		return milter.RejectWithCodeAndReason(451, "4.7.1 later")
	case "discard":
		return milter.RespDiscard, nil
	case "quarantine":
		return milter.RespAccept, mod.Quarantine("suspicious")
	case "redirect":
		if err := mod.DeleteRecipient("<bob@hamburger.edu>"); err != nil {
			return nil, err
		}
		return milter.RespAccept, mod.AddRecipient("<alice@hamburger.edu>", "")
	}
	return milter.RespAccept, mod.AddHeader("X-Filtered", "yes")
}

func startSubjectMilter(t *testing.T, seen *sync.Map) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(
		milter.WithMilter(func() milter.Milter { return &subjectMilter{seen: seen} }),
		milter.WithActions(milter.OptAddHeader|milter.OptQuarantine|milter.OptAddRcpt|milter.OptRemoveRcpt),
	)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "inet:" + ln.Addr().String()
}

// TestFilterVerdicts: each verdict of a filter over real SMTP: a refusal
// leaves no trace, a discard is 250 and nothing stored, a quarantined
// message is in Junk, an edited one is stored edited, all before the 250.
func TestFilterVerdicts(t *testing.T) {
	seen := &sync.Map{}
	addr := startSubjectMilter(t, seen)
	chain, err := filter.New([]filter.Spec{{Milter: addr, Timeout: 10 * time.Second, Ports: []string{"smtp", "submission"}}}, filter.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Filters = chain })
	tests := []struct {
		subject string
		code    int
		reply   string
		inbox   int // bob's INBOX after
		junk    int
		alice   int
	}{
		{"reject", 554, "5.7.1 no thanks", 0, 0, 0},
		{"tempfail", 451, "4.7.1 later", 0, 0, 0},
		{"discard", 250, "", 0, 0, 0},
		{"quarantine", 250, "", 0, 1, 0},
		{"redirect", 250, "", 0, 1, 1},
		{"hello", 250, "", 1, 1, 1},
	}
	for _, tc := range tests {
		d := dial(t, ts.smtpAddr)
		d.read()
		d.expect("EHLO client.example.org", 250)
		d.expect("MAIL FROM:<someone@example.org>", 250)
		d.expect("RCPT TO:<bob@hamburger.edu>", 250)
		d.expect("DATA", 354)
		code, text := d.send("From: someone@example.org\r\nSubject: " + tc.subject + "\r\n\r\nbody\r\n.")
		if code != tc.code || !strings.HasPrefix(text, tc.reply) {
			t.Errorf("%s: %d %s, want %d %s", tc.subject, code, text, tc.code, tc.reply)
		}
		_, _, in := mailbox(t, ts.store, "bob@hamburger.edu", "INBOX")
		_, _, junk := mailbox(t, ts.store, "bob@hamburger.edu", "Junk")
		_, _, alice := mailbox(t, ts.store, "alice@hamburger.edu", "INBOX")
		if len(in) != tc.inbox || len(junk) != tc.junk || len(alice) != tc.alice {
			t.Errorf("%s: bob INBOX %d Junk %d, alice %d; want %d %d %d", tc.subject, len(in), len(junk), len(alice), tc.inbox, tc.junk, tc.alice)
		}
		if tc.subject == "hello" {
			if len(in) == 1 && !strings.Contains(string(in[0]), "\r\nX-Filtered: yes\r\n\r\nbody") {
				t.Errorf("stored without the filter's field:\n%s", in[0])
			}
			id := strings.TrimPrefix(text, "2.0.0 OK: queued as ")
			want := map[string]string{"i": id, "j": "mx.hamburger.edu", "{client_addr}": "127.0.0.1", "{if_addr}": "127.0.0.1", "{daemon_name}": "petrel-smtp"}
			for k, v := range want {
				if got, _ := seen.Load(k); got != v {
					t.Errorf("macro %s = %q, want %q", k, got, v)
				}
			}
		}
		d.send("QUIT")
	}
}

// TestFilterDown: a filter that cannot be reached refuses for now
// (on_error = "tempfail"), and nothing is stored.
func TestFilterDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "inet:" + ln.Addr().String()
	ln.Close()
	chain, err := filter.New([]filter.Spec{{Milter: addr, Timeout: time.Second}}, filter.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Filters = chain })
	err = sendPlain(t, ts.smtpAddr, "someone@example.org", []string{"bob@hamburger.edu"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err == nil || !strings.Contains(err.Error(), "451") || !strings.Contains(err.Error(), "Content filter unavailable") {
		t.Errorf("got %v, want 451 4.7.1", err)
	}
	if _, in := inbox(t, ts.store, "bob@hamburger.edu"); len(in) != 0 {
		t.Errorf("stored %d messages", len(in))
	}
}

// TestFilterSubmission: a filter for the submission port is told who
// logged in ({auth_authen}, {auth_type}) and the TLS in use, and sees the
// Date and Message-ID Petrel completed; a filter for port 25 only does
// not see submitted mail.
func TestFilterSubmission(t *testing.T) {
	seen := &sync.Map{}
	sub := startSubjectMilter(t, seen)
	other := &sync.Map{}
	mx := startSubjectMilter(t, other)
	chain, err := filter.New([]filter.Spec{{Milter: sub, Ports: []string{"submission"}}, {Milter: mx}}, filter.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Filters = chain })
	c, err := smtp.DialStartTLS(ts.subAddr, ts.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "bob@hamburger.edu", "secret")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("bob@hamburger.edu", []string{"alice@hamburger.edu"}, strings.NewReader("Subject: hi\r\n\r\nHi!\r\n")); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"{auth_authen}": "bob@hamburger.edu", "{auth_type}": "PLAIN", "{daemon_name}": "petrel-submission", "{tls_version}": "TLSv1.3"} {
		if got, _ := seen.Load(k); got != want {
			t.Errorf("macro %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := other.Load("i"); ok {
		t.Error("the port 25 filter saw submitted mail")
	}
	if _, in := inbox(t, ts.store, "alice@hamburger.edu"); len(in) != 1 || !strings.Contains(string(in[0]), "X-Filtered: yes\r\n") || !strings.Contains(string(in[0]), "Message-ID: <") {
		t.Errorf("alice's INBOX: %q", in)
	}
}
