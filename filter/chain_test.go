package filter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	milter "github.com/d--j/go-milter"
)

// fakeMilter is a milter server (go-milter's own server side) whose
// answers the test sets. It records what it was told.
type fakeMilter struct {
	milter.NoOpMilter
	t      *fakeServer
	header []string
	body   bytes.Buffer
}

type fakeServer struct {
	addr string // "inet:127.0.0.1:port" or "unix:/path"
	// Hooks; nil answers continue.
	connect func(m milter.Modifier) (*milter.Response, error)
	mail    func(from string, m milter.Modifier) (*milter.Response, error)
	rcpt    func(rcpt string, m milter.Modifier) (*milter.Response, error)
	eom     func(f *fakeMilter, m milter.Modifier) (*milter.Response, error)

	mu     sync.Mutex
	macros map[string]string // as seen at end of message
	seen   []string          // header fields seen, "Name: value"
	body   string
	rcpts  []string
	from   string
	host   string
	addrIP string
}

func (f *fakeMilter) Connect(host string, family string, port uint16, addr string, m milter.Modifier) (*milter.Response, error) {
	f.t.mu.Lock()
	f.t.host, f.t.addrIP = host, addr
	f.t.mu.Unlock()
	if f.t.connect != nil {
		return f.t.connect(m)
	}
	return milter.RespContinue, nil
}

func (f *fakeMilter) MailFrom(from string, esmtpArgs string, m milter.Modifier) (*milter.Response, error) {
	f.t.mu.Lock()
	f.t.from = from
	f.t.mu.Unlock()
	if f.t.mail != nil {
		return f.t.mail(from, m)
	}
	return milter.RespContinue, nil
}

func (f *fakeMilter) RcptTo(rcpt string, esmtpArgs string, m milter.Modifier) (*milter.Response, error) {
	f.t.mu.Lock()
	f.t.rcpts = append(f.t.rcpts, rcpt)
	f.t.mu.Unlock()
	if f.t.rcpt != nil {
		return f.t.rcpt(rcpt, m)
	}
	return milter.RespContinue, nil
}

func (f *fakeMilter) Header(name string, value string, m milter.Modifier) (*milter.Response, error) {
	f.header = append(f.header, name+": "+value)
	return milter.RespContinue, nil
}

func (f *fakeMilter) BodyChunk(chunk []byte, m milter.Modifier) (*milter.Response, error) {
	f.body.Write(chunk)
	return milter.RespContinue, nil
}

func (f *fakeMilter) EndOfMessage(m milter.Modifier) (*milter.Response, error) {
	macros := map[string]string{}
	for _, n := range []string{"j", "i", "v", "{client_addr}", "{client_port}", "{client_name}", "{if_addr}", "{daemon_name}",
		"{auth_authen}", "{auth_type}", "{mail_addr}", "{rcpt_addr}", "{rcpt_mailer}", "{tls_version}"} {
		if v, ok := m.GetEx(n); ok {
			macros[n] = v
		}
	}
	f.t.mu.Lock()
	f.t.macros, f.t.seen, f.t.body = macros, f.header, f.body.String()
	f.t.mu.Unlock()
	if f.t.eom != nil {
		return f.t.eom(f, m)
	}
	return milter.RespAccept, nil
}

// startFake serves a fake milter on loopback TCP (or a unix socket when
// unix is set) until the test ends.
func startFake(t testing.TB, unix bool, fs *fakeServer) *fakeServer {
	t.Helper()
	var ln net.Listener
	var err error
	if unix {
		p := filepath.Join(t.TempDir(), "m.sock")
		ln, err = net.Listen("unix", p)
		fs.addr = "unix:" + p
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			fs.addr = "inet:" + ln.Addr().String()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(
		milter.WithMilter(func() milter.Milter { return &fakeMilter{t: fs} }),
		milter.WithActions(milter.OptAddHeader|milter.OptChangeHeader|milter.OptChangeBody|milter.OptQuarantine),
		milter.WithMacroRequest(milter.StageConnect, []milter.MacroName{"j", "v", "{client_addr}", "{client_port}", "{client_name}", "{if_addr}", "{daemon_name}"}),
		milter.WithMacroRequest(milter.StageHelo, []milter.MacroName{"{tls_version}"}),
		milter.WithMacroRequest(milter.StageMail, []milter.MacroName{"i", "{auth_authen}", "{auth_type}", "{mail_addr}"}),
		milter.WithMacroRequest(milter.StageRcpt, []milter.MacroName{"{rcpt_addr}", "{rcpt_mailer}"}),
		milter.WithMacroRequest(milter.StageEOM, []milter.MacroName{"i"}),
	)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fs
}

const testMsg = "From: a@example.org\r\nTo: b@example.com\r\nSubject: hello\r\n  world\r\nX-Old: 1\r\nX-Old: 2\r\n\r\nBody line 1\r\nline 2\r\n"

func testEnv() *Envelope {
	return &Envelope{
		QueueID: "q123", Port: PortSMTP, Hostname: "mx.example.com",
		ClientIP: net.ParseIP("192.0.2.7"), ClientPort: 40000, ClientName: "mail.example.org",
		LocalIP: net.ParseIP("198.51.100.1"), Helo: "mail.example.org",
		From: "a@example.org", Rcpts: []string{"b@example.com", "c@example.com"},
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newChain(t *testing.T, specs ...Spec) *Chain {
	t.Helper()
	c, err := New(specs, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestActions runs each milter action against a fake filter and checks
// the verdict and the message that comes out.
func TestActions(t *testing.T) {
	tests := []struct {
		name     string
		fs       *fakeServer
		verdict  Verdict
		reply    string // "550 5.7.1 text" for refusals
		quar     string // quarantine reason
		want     string // the message after edits ("" = unchanged)
		wantSame bool
	}{
		{name: "accept at connect", fs: &fakeServer{connect: func(milter.Modifier) (*milter.Response, error) { return milter.RespAccept, nil }}, verdict: Accept, wantSame: true},
		{name: "accept at end", fs: &fakeServer{}, verdict: Accept, wantSame: true},
		{name: "reject at MAIL", fs: &fakeServer{mail: func(string, milter.Modifier) (*milter.Response, error) { return milter.RespReject, nil }}, verdict: Reject, reply: "550 5.7.1 Command rejected"},
		{name: "reject with code at end", fs: &fakeServer{eom: func(_ *fakeMilter, _ milter.Modifier) (*milter.Response, error) {
			return milter.RejectWithCodeAndReason(554, "5.7.1 Gtube pattern")
		}}, verdict: Reject, reply: "554 5.7.1 Gtube pattern"},
		{name: "reject at RCPT", fs: &fakeServer{rcpt: func(r string, _ milter.Modifier) (*milter.Response, error) {
			return milter.RejectWithCodeAndReason(550, "5.1.1 no "+r)
		}}, verdict: Reject, reply: "550 5.1.1 no b@example.com"},
		{name: "tempfail", fs: &fakeServer{eom: func(*fakeMilter, milter.Modifier) (*milter.Response, error) { return milter.RespTempFail, nil }}, verdict: TempFail, reply: "451 4.7.1 Service unavailable - try again later"},
		{name: "tempfail with code", fs: &fakeServer{eom: func(*fakeMilter, milter.Modifier) (*milter.Response, error) {
			return milter.RejectWithCodeAndReason(452, "4.3.1 busy")
		}}, verdict: TempFail, reply: "452 4.3.1 busy"},
		{name: "discard", fs: &fakeServer{eom: func(*fakeMilter, milter.Modifier) (*milter.Response, error) { return milter.RespDiscard, nil }}, verdict: Discard},
		{name: "quarantine", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.Quarantine("looks like spam")
		}}, verdict: Accept, quar: "looks like spam", wantSame: true},
		{name: "add header", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.AddHeader("X-Spam", "yes\n\tfolded")
		}}, verdict: Accept, want: strings.Replace(testMsg, "\r\n\r\n", "\r\nX-Spam: yes\r\n\tfolded\r\n\r\n", 1)},
		{name: "insert header first", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.InsertHeader(0, "X-First", "1")
		}}, verdict: Accept, want: "X-First: 1\r\n" + testMsg},
		{name: "insert header after second", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.InsertHeader(2, "X-Third", "3")
		}}, verdict: Accept, want: strings.Replace(testMsg, "Subject:", "X-Third: 3\r\nSubject:", 1)},
		{name: "change header", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.ChangeHeader(2, "x-old", "two")
		}}, verdict: Accept, want: strings.Replace(testMsg, "X-Old: 2", "X-Old: two", 1)},
		{name: "delete header", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.ChangeHeader(1, "Subject", "")
		}}, verdict: Accept, want: strings.Replace(testMsg, "Subject: hello\r\n  world\r\n", "", 1)},
		{name: "replace body", fs: &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.ReplaceBody(strings.NewReader("new body\r\n"))
		}}, verdict: Accept, want: testMsg[:strings.Index(testMsg, "\r\n\r\n")+4] + "new body\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFake(t, false, tc.fs)
			c := newChain(t, Spec{Milter: fs.addr, Timeout: 5 * time.Second})
			res := c.Check(context.Background(), testEnv(), []byte(testMsg))
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %v (%+v), want %v", res.Verdict, res, tc.verdict)
			}
			if tc.reply != "" {
				got := fmt.Sprintf("%d %d.%d.%d %s", res.Code, res.Enhanced[0], res.Enhanced[1], res.Enhanced[2], res.Text)
				if got != tc.reply {
					t.Errorf("reply %q, want %q", got, tc.reply)
				}
			}
			if res.Quarantine != (tc.quar != "") || res.Reason != tc.quar && tc.quar != "" {
				t.Errorf("quarantine %v %q, want %q", res.Quarantine, res.Reason, tc.quar)
			}
			switch {
			case tc.wantSame && string(res.Message) != testMsg:
				t.Errorf("message changed:\n%q", res.Message)
			case tc.want != "" && string(res.Message) != tc.want:
				t.Errorf("message\n%q\nwant\n%q", res.Message, tc.want)
			}
		})
	}
}

// TestStagesAndMacros checks what a filter is told: the client address,
// the envelope, every header field with its folding and the body, and the
// macros filters read.
func TestStagesAndMacros(t *testing.T) {
	for _, unix := range []bool{false, true} {
		fs := startFake(t, unix, &fakeServer{})
		c := newChain(t, Spec{Milter: fs.addr})
		env := testEnv()
		env.Port = PortSubmission
		env.AuthUser, env.AuthMech = "a@example.org", "PLAIN"
		env.TLSVersion, env.TLSCipher, env.TLSBits = "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128
		env.LocalRcpt = func(r string) bool { return r != "c@example.com" }
		c2 := newChain(t, Spec{Milter: fs.addr, Ports: []string{"submission"}})
		if res := c.Check(context.Background(), env, []byte(testMsg)); res.Verdict != Accept {
			t.Fatalf("smtp-only filter on submission: %+v", res)
		}
		if fs.from != "" {
			t.Fatalf("a filter for port smtp saw submission mail")
		}
		if res := c2.Check(context.Background(), env, []byte(testMsg)); res.Verdict != Accept {
			t.Fatalf("verdict %+v", res)
		}
		fs.mu.Lock()
		want := map[string]string{"j": "mx.example.com", "i": "q123", "v": "Petrel", "{client_addr}": "192.0.2.7",
			"{client_port}": "40000", "{client_name}": "mail.example.org", "{if_addr}": "198.51.100.1",
			"{daemon_name}": "petrel-submission", "{auth_authen}": "a@example.org", "{auth_type}": "PLAIN",
			"{mail_addr}": "a@example.org", "{rcpt_addr}": "c@example.com", "{rcpt_mailer}": "smtp", "{tls_version}": "TLSv1.3"}
		for k, v := range want {
			if fs.macros[k] != v {
				t.Errorf("unix=%v: macro %s = %q, want %q", unix, k, fs.macros[k], v)
			}
		}
		if fs.host != "mail.example.org" || fs.addrIP != "192.0.2.7" {
			t.Errorf("connect host %q addr %q", fs.host, fs.addrIP)
		}
		if fs.from != "a@example.org" || strings.Join(fs.rcpts, ",") != "b@example.com,c@example.com" {
			t.Errorf("envelope %q %q", fs.from, fs.rcpts)
		}
		wantH := []string{"From: a@example.org", "To: b@example.com", "Subject: hello\r\n  world", "X-Old: 1", "X-Old: 2"}
		if strings.Join(fs.seen, "|") != strings.Join(wantH, "|") {
			t.Errorf("header fields %q, want %q", fs.seen, wantH)
		}
		if fs.body != "Body line 1\r\nline 2\r\n" {
			t.Errorf("body %q", fs.body)
		}
		fs.mu.Unlock()
	}
}

// TestChainOrder: the second filter sees the first one's edits, and the
// first refusal ends the chain.
func TestChainOrder(t *testing.T) {
	first := startFake(t, false, &fakeServer{eom: func(_ *fakeMilter, m milter.Modifier) (*milter.Response, error) {
		return milter.RespAccept, m.AddHeader("X-First", "seen")
	}})
	second := startFake(t, false, &fakeServer{eom: func(f *fakeMilter, m milter.Modifier) (*milter.Response, error) {
		for _, h := range f.header {
			if h == "X-First: seen" {
				return milter.RejectWithCodeAndReason(550, "5.7.0 saw the first filter's field")
			}
		}
		return milter.RespAccept, nil
	}})
	third := startFake(t, false, &fakeServer{})
	c := newChain(t, Spec{Milter: first.addr}, Spec{Milter: second.addr}, Spec{Milter: third.addr})
	res := c.Check(context.Background(), testEnv(), []byte(testMsg))
	if res.Verdict != Reject || res.Text != "saw the first filter's field" || res.Filter != second.addr {
		t.Fatalf("%+v", res)
	}
	third.mu.Lock()
	defer third.mu.Unlock()
	// Every filter hears the envelope as it comes; the message goes
	// through them in order and stops at the first refusal.
	if third.from != "a@example.org" {
		t.Errorf("the third filter was not told of MAIL: %q", third.from)
	}
	if third.macros != nil || third.body != "" {
		t.Error("the chain went on with the message after a refusal")
	}
}

// TestOnError: a filter that is down, or that never answers, follows
// on_error, within its timeout.
func TestOnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "inet:" + ln.Addr().String()
	ln.Close()
	// A filter that accepts the connection and never says a word.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tests := []struct {
		addr, onError string
		verdict       Verdict
	}{
		{down, "tempfail", TempFail},
		{down, "accept", Accept},
		{down, "", TempFail},
		{"inet:" + mute.Addr().String(), "tempfail", TempFail},
		{"inet:" + mute.Addr().String(), "accept", Accept},
	}
	for _, tc := range tests {
		var verdicts []string
		c, err := New([]Spec{{Milter: tc.addr, OnError: tc.onError, Timeout: 300 * time.Millisecond}},
			Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnVerdict: func(_, v string) { verdicts = append(verdicts, v) }})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res := c.Check(context.Background(), testEnv(), []byte(testMsg))
		if res.Verdict != tc.verdict {
			t.Errorf("%s on_error=%q: %+v", tc.addr, tc.onError, res)
		}
		if tc.verdict == TempFail && (res.Code != 451 || res.Enhanced != [3]int{4, 7, 1}) {
			t.Errorf("tempfail reply %d %v", res.Code, res.Enhanced)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v with a 300ms timeout", d)
		}
		if strings.Join(verdicts, ",") != "error" {
			t.Errorf("verdicts counted %q", verdicts)
		}
	}
	// The caller's context ends a conversation too.
	c := newChain(t, Spec{Milter: "inet:" + mute.Addr().String(), Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if res := c.Check(ctx, testEnv(), []byte(testMsg)); res.Verdict != TempFail {
		t.Errorf("cancelled: %+v", res)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, s := range []Spec{
		{Milter: "127.0.0.1:1"},
		{Milter: "unix:relative.sock"},
		{Milter: "inet:nohost"},
		{Milter: "inet:127.0.0.1:1", OnError: "reject"},
		{Milter: "inet:127.0.0.1:1", Ports: []string{"imap"}},
	} {
		if _, err := New([]Spec{s}, Options{}); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	for in, want := range map[string]string{
		"inet:127.0.0.1:11332": "tcp 127.0.0.1:11332",
		"inet:11332@localhost": "tcp localhost:11332",
		"inet6:[::1]:7357":     "tcp [::1]:7357",
		"unix:/run/m.sock":     "unix /run/m.sock",
	} {
		n, a, err := ParseAddress(in)
		if err != nil || n+" "+a != want {
			t.Errorf("ParseAddress(%q) = %q %q %v, want %q", in, n, a, err, want)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		in   string
		code int
		enh  [3]int
		text string
	}{
		{"554 5.7.1 Gtube pattern", 554, [3]int{5, 7, 1}, "Gtube pattern"},
		{"550 5.7.1 Virus found: Eicar-Signature", 550, [3]int{5, 7, 1}, "Virus found: Eicar-Signature"},
		{"451 4.7.1 Service unavailable - try again later", 451, [3]int{4, 7, 1}, "Service unavailable - try again later"},
		{"550-5.7.1 first\r\n550 5.7.1 second", 550, [3]int{5, 7, 1}, "first\nsecond"},
		{"421 try later", 421, [3]int{4, 7, 1}, "try later"},
		{"554 4.7.1 mismatched class", 554, [3]int{5, 7, 1}, "mismatched class"},
		{"garbage", 550, [3]int{5, 7, 1}, "garbage"},
		{"", 550, [3]int{5, 7, 1}, "Message refused by a content filter"},
		{"550 5.7.1 a\x00b\x1bc", 550, [3]int{5, 7, 1}, "abc"},
	}
	for _, tc := range tests {
		code, e, text := ParseReply(tc.in)
		if code != tc.code || e != tc.enh || text != tc.text {
			t.Errorf("ParseReply(%q) = %d %v %q, want %d %v %q", tc.in, code, e, text, tc.code, tc.enh, tc.text)
		}
	}
}
