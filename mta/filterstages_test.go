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

	"petrel/filter"
)

// stageMilter answers at each SMTP stage as its test says: a HELO name,
// sender starting with "reject"/"tempfail", or a recipient with that
// +tag, is refused there; "slow" gets no answer until the test ends (a
// minute at most). It notes the stages it was told of.
type stageMilter struct {
	milter.NoOpMilter
	srv *stageServer
}

type stageServer struct {
	rejectConnect bool
	release       chan struct{} // closed when the test ends: "slow" answers
	mu            sync.Mutex
	stages        []string
}

func (m *stageMilter) note(s string) {
	m.srv.mu.Lock()
	m.srv.stages = append(m.srv.stages, s)
	m.srv.mu.Unlock()
}

func (m *stageMilter) answer(stage, arg string) (*milter.Response, error) {
	m.note(stage + " " + arg)
	arg = strings.Trim(arg, "<>")
	is := func(word string) bool { return strings.HasPrefix(arg, word) || strings.Contains(arg, "+"+word+"@") }
	switch {
	case is("reject"):
		return milter.RejectWithCodeAndReason(550, "5.7.1 "+stage+" "+arg+" refused by the filter")
	case is("tempfail"):
		return milter.RejectWithCodeAndReason(451, "4.7.1 "+stage+" later")
	case is("slow"):
		select {
		case <-m.srv.release:
		case <-time.After(time.Minute):
		}
	}
	return milter.RespContinue, nil
}

func (m *stageMilter) Connect(host, family string, port uint16, addr string, _ milter.Modifier) (*milter.Response, error) {
	m.note("connect " + addr)
	if m.srv.rejectConnect {
		return milter.RejectWithCodeAndReason(554, "5.7.1 Your host is not welcome here")
	}
	return milter.RespContinue, nil
}

func (m *stageMilter) Helo(name string, _ milter.Modifier) (*milter.Response, error) {
	return m.answer("HELO", name)
}

func (m *stageMilter) MailFrom(from, _ string, _ milter.Modifier) (*milter.Response, error) {
	return m.answer("MAIL", from)
}

func (m *stageMilter) RcptTo(rcpt, _ string, _ milter.Modifier) (*milter.Response, error) {
	return m.answer("RCPT", rcpt)
}

func (m *stageMilter) EndOfMessage(_ milter.Modifier) (*milter.Response, error) {
	m.note("EOM")
	return milter.RespAccept, nil
}

func (m *stageMilter) Abort(_ milter.Modifier) error {
	m.note("ABORT")
	return nil
}

func startStageMilter(t *testing.T, srv *stageServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.release = make(chan struct{})
	s := milter.NewServer(milter.WithMilter(func() milter.Milter { return &stageMilter{srv: srv} }))
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() { close(srv.release) }) // first
	return "inet:" + ln.Addr().String()
}

func stageServerWith(t *testing.T, specs ...filter.Spec) *testServer {
	t.Helper()
	chain, err := filter.New(specs, filter.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, func(o *Options) { o.Filters = chain })
}

// TestFilterStages: each SMTP stage is put to the filter as it happens,
// and its refusal is the reply to that command only: a refused recipient
// leaves the others, and the message goes to them.
func TestFilterStages(t *testing.T) {
	srv := &stageServer{}
	ts := stageServerWith(t, filter.Spec{Milter: startStageMilter(t, srv), Timeout: 5 * time.Second})
	d := dial(t, ts.smtpAddr)
	d.read()
	steps := []struct {
		line, reply string
		code        int
	}{
		{"EHLO reject.example.org", "HELO reject.example.org refused by the filter", 550},
		{"MAIL FROM:<x@example.org>", "Send HELO or EHLO first", 503}, // the refused HELO did not count
		{"EHLO client.example.org", "", 250},
		{"MAIL FROM:<reject@example.org>", "5.7.1 MAIL reject@example.org refused by the filter", 550},
		{"MAIL FROM:<someone@example.org>", "", 250},
		{"RCPT TO:<bob@hamburger.edu>", "", 250},
		{"RCPT TO:<bob+reject@hamburger.edu>", "5.7.1 RCPT bob+reject@hamburger.edu refused by the filter", 550},
		{"RCPT TO:<bob+tempfail@hamburger.edu>", "4.7.1 RCPT later", 451},
		{"RCPT TO:<nobody@hamburger.edu>", "", 550}, // Petrel's own refusal: the filter is not asked
		{"RCPT TO:<alice@hamburger.edu>", "", 250},
		{"DATA", "", 354},
		{"Subject: hi\r\n\r\nbody\r\n.", "2.0.0 OK", 250},
	}
	for _, st := range steps {
		code, text := d.send(st.line)
		if code != st.code || !strings.Contains(text, st.reply) {
			t.Errorf("%q: %d %s, want %d %s", st.line, code, text, st.code, st.reply)
		}
	}
	d.send("QUIT")
	for _, who := range []string{"bob@hamburger.edu", "alice@hamburger.edu"} {
		if _, in := inbox(t, ts.store, who); len(in) != 1 {
			t.Errorf("%s has %d messages, want 1", who, len(in))
		}
	}
	srv.mu.Lock()
	got := strings.Join(srv.stages, "|")
	srv.mu.Unlock()
	// The refused MAIL's transaction is aborted for the filter; the
	// refused recipients are its own word, Petrel's refusal it never hears.
	want := "connect 127.0.0.1|HELO reject.example.org|HELO client.example.org|MAIL reject@example.org|ABORT|" +
		"MAIL someone@example.org|RCPT bob@hamburger.edu|RCPT bob+reject@hamburger.edu|RCPT bob+tempfail@hamburger.edu|RCPT alice@hamburger.edu|EOM"
	if !strings.HasPrefix(got, want) {
		t.Errorf("the filter was told\n%s\nwant\n%s", got, want)
	}
}

// TestFilterConnectRefused: a refusal at connect is the greeting's
// business in Sendmail; here, as in Postfix, the client is greeted and
// every command but QUIT, RSET, NOOP and HELP gets the filter's reply.
func TestFilterConnectRefused(t *testing.T) {
	ts := stageServerWith(t, filter.Spec{Milter: startStageMilter(t, &stageServer{rejectConnect: true}), Timeout: 5 * time.Second})
	d := dial(t, ts.smtpAddr)
	if code, _ := d.read(); code != 220 {
		t.Fatalf("greeting %d", code)
	}
	for _, st := range []struct {
		line string
		code int
	}{
		{"NOOP", 250},
		{"EHLO client.example.org", 554},
		{"MAIL FROM:<a@example.org>", 554},
		{"RSET", 250},
		{"QUIT", 221},
	} {
		code, text := d.send(st.line)
		if code != st.code || code == 554 && !strings.Contains(text, "Your host is not welcome here") {
			t.Errorf("%s: %d %s, want %d", st.line, code, text, st.code)
		}
	}
}

// TestFilterStageOnError: a filter that does not answer within its
// timeout at RCPT follows on_error there: "tempfail" refuses the command
// for now (and the rest of the connection's mail), "accept" goes on
// without it.
func TestFilterStageOnError(t *testing.T) {
	for _, tc := range []struct {
		onError string
		rcpt    int // the reply to the slow RCPT
		then    int // the reply to the next RCPT
	}{
		{"tempfail", 451, 451},
		{"accept", 250, 250},
	} {
		t.Run(tc.onError, func(t *testing.T) {
			ts := stageServerWith(t, filter.Spec{Milter: startStageMilter(t, &stageServer{}), Timeout: 300 * time.Millisecond, OnError: tc.onError})
			d := dial(t, ts.smtpAddr)
			d.read()
			d.expect("EHLO client.example.org", 250)
			d.expect("MAIL FROM:<a@example.org>", 250)
			start := time.Now()
			if code, text := d.send("RCPT TO:<bob+slow@hamburger.edu>"); code != tc.rcpt {
				t.Errorf("slow RCPT: %d %s, want %d", code, text, tc.rcpt)
			}
			// The filter would answer after a minute: 10 s leave a loaded
			// machine time and still tell the timeout worked.
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("the slow RCPT took %v with a 300ms timeout", el)
			}
			if code, text := d.send("RCPT TO:<bob@hamburger.edu>"); code != tc.then {
				t.Errorf("next RCPT: %d %s, want %d", code, text, tc.then)
			}
		})
	}
}
