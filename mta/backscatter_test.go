package mta

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"petrel/queue"
	"petrel/store"
)

// sink is an SMTP server that keeps what it is sent, and refuses the
// recipients in refuse.
type sink struct {
	mu      sync.Mutex
	got     []queued
	refused []string
	refuse  map[string]bool
}

type sinkSession struct {
	s    *sink
	from string
	to   []string
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error { ss.from = from; return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.refuse[to] {
		ss.s.mu.Lock()
		ss.s.refused = append(ss.s.refused, to)
		ss.s.mu.Unlock()
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, queued{from: ss.from, rcpts: ss.to, msg: b})
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

func (s *sink) state() ([]queued, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]queued(nil), s.got...), append([]string(nil), s.refused...)
}

// queueBouncer sends the MTA's refusals after DATA as the queue's DSNs,
// as the running server does.
type queueBouncer struct{ q *queue.Queue }

func (b queueBouncer) Bounce(ctx context.Context, id, from string, failed []Failure, msg []byte) error {
	var rcpts []queue.Rcpt
	for _, f := range failed {
		rcpts = append(rcpts, queue.Rcpt{Addr: f.Rcpt, Status: f.Status(), LastReply: f.String()})
	}
	_, err := b.q.EnqueueDSN(ctx, id, from, rcpts, msg)
	return err
}

// The bounce trap of issue 18.6, against the real queue and an SMTP sink
// that stands for the rest of the Internet: a forged Delivered-To and a
// non-member's post to a members-only list are refused at DATA, so no
// DSN is sent; a forward of mail whose sender failed SPF goes from <>, so
// its failure bounces to no one; and the one DSN that is due (to a sender
// that passed) carries at most a capped header.
func TestNoBackscatter(t *testing.T) {
	sk := &sink{refuse: map[string]bool{"gone@remote.example": true}}
	srv := smtp.NewServer(sk)
	srv.Domain = "sink.example"
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(sl)
	t.Cleanup(func() { srv.Close() })

	var m *MTA
	local := localFunc(func(ctx context.Context, from, rcpt string, msg []byte) error {
		return m.DeliverLocal(ctx, from, rcpt, msg)
	})
	q, err := queue.Open(queue.Options{
		Path: filepath.Join(t.TempDir(), "queue.db"), Hostname: "mx.hamburger.edu",
		RelayHost: sl.Addr().String(), Local: local, IsLocal: func(d string) bool { return d == "hamburger.edu" },
		Jitter: -1, DelayWarning: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; q.Close() })

	ts := newTestServer(t, func(o *Options) {
		o.Queue = q
		o.Bouncer = queueBouncer{q}
		o.Checker = checkerFunc(func(in CheckInput) *CheckResult {
			return &CheckResult{NoBounce: strings.HasSuffix(in.MailFrom, "@forged.example")}
		})
	})
	m = ts.mta
	newList(t, ts.store, store.List{Address: "club@hamburger.edu"}, "alice@hamburger.edu")
	setAlias(t, ts.store, "fwd@hamburger.edu", "gone@remote.example")

	var bulk strings.Builder
	for i := 0; bulk.Len() < 186<<10; i++ {
		fmt.Fprintf(&bulk, "X-Chosen-%d: %s\r\n", i, strings.Repeat("a", 500))
	}
	for _, tc := range []struct {
		name, from string
		rcpts      []string
		header     string
		code       int
	}{
		{"forged Delivered-To", "victim@outside.example", []string{"bob@hamburger.edu", "alice@hamburger.edu"}, "Delivered-To: bob@hamburger.edu\r\n", 554},
		{"non-member's post", "victim@outside.example", []string{"bob@hamburger.edu", "club@hamburger.edu"}, "From: victim@outside.example\r\n", 550},
		{"forward of a sender that failed SPF", "victim@forged.example", []string{"bob@hamburger.edu", "fwd@hamburger.edu"}, "", 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sendPlain(t, ts.smtpAddr, tc.from, tc.rcpts, strings.NewReader(tc.header+bulk.String()+"Subject: x\r\n\r\nbody\r\n"))
			var se *smtp.SMTPError
			switch {
			case tc.code == 250 && err != nil:
				t.Fatalf("DATA: %v", err)
			case tc.code != 250 && (!asSMTP(err, &se) || se.Code != tc.code):
				t.Fatalf("DATA: %v, want %d", err, tc.code)
			}
		})
	}
	// The forward was tried (from <>) and refused by the far end; then the
	// queue is empty: whatever DSN there was to send is sent.
	waitUntil(t, func() bool {
		_, refused := sk.state()
		items, err := q.List()
		return err == nil && len(refused) == 1 && len(items) == 0
	})
	if got, _ := sk.state(); len(got) != 0 {
		for _, g := range got {
			t.Errorf("sent to the outside: from <%s> to %v, %d bytes", g.from, g.rcpts, len(g.msg))
		}
	}
	if _, msgs := inbox(t, ts.store, "alice@hamburger.edu"); len(msgs) != 0 {
		t.Errorf("alice got %d messages of refused mail", len(msgs))
	}

	// The same forward for a sender that passed: its DSN is due, and
	// carries a capped header.
	if err := sendPlain(t, ts.smtpAddr, "friend@outside.example", []string{"fwd@hamburger.edu"}, strings.NewReader(bulk.String()+"Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { got, _ := sk.state(); return len(got) == 1 })
	got, _ := sk.state()
	if got[0].from != "" || len(got[0].rcpts) != 1 || got[0].rcpts[0] != "friend@outside.example" {
		t.Errorf("DSN from <%s> to %v, want from <> to friend@outside.example", got[0].from, got[0].rcpts)
	}
	if n := len(got[0].msg); n > 24<<10 {
		t.Errorf("the DSN is %d bytes: the original's header is not capped", n)
	}
}

// localFunc adapts a function to queue.LocalDeliverer.
type localFunc func(ctx context.Context, from, rcpt string, msg []byte) error

func (f localFunc) DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error {
	return f(ctx, from, rcpt, msg)
}
