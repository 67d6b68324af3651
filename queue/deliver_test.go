package queue_test

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/dnsmx/dnsmxtest"
	"petrel/queue"
)

// TestRouting covers the choice of server: MX preference, the next MX when
// the first refuses connections, the implicit MX, and the permanent DNS
// failures that bounce at once.
func TestRouting(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		up      []string // which of 127.0.0.2 / .3 run a peer
		gotBy   string   // the peer that must receive, "" for a bounce
		status  string   // DSN status for a bounce
	}{
		{name: "lowest preference first", up: []string{"127.0.0.2", "127.0.0.3"}, gotBy: "127.0.0.2",
			records: []string{"remote.test. 60 IN MX 20 mx2.remote.test.", "remote.test. 60 IN MX 10 mx1.remote.test.",
				"mx1.remote.test. 60 IN A 127.0.0.2", "mx2.remote.test. 60 IN A 127.0.0.3"}},
		{name: "fallback to next MX", up: []string{"127.0.0.3"}, gotBy: "127.0.0.3",
			records: []string{"remote.test. 60 IN MX 10 mx1.remote.test.", "remote.test. 60 IN MX 20 mx2.remote.test.",
				"mx1.remote.test. 60 IN A 127.0.0.2", "mx2.remote.test. 60 IN A 127.0.0.3"}},
		{name: "implicit MX", up: []string{"127.0.0.3"}, gotBy: "127.0.0.3",
			records: []string{"remote.test. 60 IN A 127.0.0.3"}},
		{name: "null MX", up: []string{"127.0.0.2"}, status: "5.1.10",
			records: []string{"remote.test. 60 IN MX 0 .", "remote.test. 60 IN A 127.0.0.2"}},
		{name: "NXDOMAIN", up: []string{"127.0.0.2"}, status: "5.1.2",
			records: []string{"other.test. 60 IN A 127.0.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, lns := listenAll(t, "127.0.0.2", "127.0.0.3")
			peers := map[string]*peer{}
			for _, ln := range lns {
				ip := ln.Addr().(*net.TCPAddr).IP.String()
				if slices.Contains(tc.up, ip) {
					peers[ip] = serve(t, &peer{}, ln)
				} else {
					ln.Close() // refused
				}
			}
			e := newEnv(t, port, dnsmxtest.Start(t, tc.records...))
			id := e.enqueue("alice@local.test", "bob@remote.test")
			e.gone(id)
			for ip, p := range peers {
				n := len(p.txns())
				if ip == tc.gotBy && n != 1 || ip != tc.gotBy && n != 0 {
					t.Errorf("peer %s got %d transactions; want the message at %q", ip, n, tc.gotBy)
				}
			}
			dsns := e.box.all()
			if tc.gotBy != "" {
				if len(dsns) != 0 {
					t.Errorf("delivered, yet %d DSNs", len(dsns))
				}
				return
			}
			if len(dsns) != 1 {
				t.Fatalf("got %d DSNs, want 1", len(dsns))
			}
			contains(t, "DSN", string(dsns[0].data), "Status: "+tc.status, "Final-Recipient: rfc822; bob@remote.test", "Action: failed")
		})
	}
}

func remoteZone(t *testing.T) *dnsmxtest.Server {
	return dnsmxtest.Start(t,
		"remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.2",
		"other.test. 60 IN MX 10 mx.other.test.", "mx.other.test. 60 IN A 127.0.0.3")
}

func TestTemporaryThenDelivered(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	p := serve(t, &peer{data: func(n int) error {
		if n <= 2 {
			return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "try again later")
		}
		return nil
	}}, lns[0])
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) {
		o.Retry = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	})
	start := time.Now()
	id := e.enqueue("alice@local.test", "bob@remote.test")
	waitFor(t, "first deferral", 5*time.Second, func() bool {
		it, _, err := e.q.Show(id)
		return err == nil && it.Attempts >= 1
	})
	it := e.item(id)
	if it.Rcpts[0].State != queue.Pending || !strings.Contains(it.LastErr, "451") {
		t.Errorf("after the first 451: %+v", it)
	}
	e.gone(id)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("delivered after %v, before the schedule (100ms + 200ms) allowed", d)
	}
	if got := len(p.txns()); got != 1 || p.dataN != 3 {
		t.Errorf("peer accepted %d, saw %d DATA; want 1 on the third", got, p.dataN)
	}
	if len(e.box.all()) != 0 {
		t.Error("a DSN for a delivered message")
	}
	e.logged("id="+id, "delivered=1", "deferred=0")
	if n := strings.Count(e.log.String(), "id="+id); n != 3 {
		t.Errorf("%d log lines for %s, want one per attempt (3):\n%s", n, id, e.log)
	}
}

func TestGroupingByDomain(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2", "127.0.0.3")
	a, b := serve(t, &peer{}, lns[0]), serve(t, &peer{}, lns[1])
	e := newEnv(t, port, remoteZone(t))
	id := e.enqueue("alice@local.test", "bob@remote.test", "carol@other.test", "dave@REMOTE.test", "erin@remote.test")
	e.gone(id)
	ta, tb := a.txns(), b.txns()
	if len(ta) != 1 || len(ta[0].Rcpts) != 3 {
		t.Fatalf("remote.test got %+v, want one transaction with 3 recipients", ta)
	}
	if len(tb) != 1 || !slices.Equal(tb[0].Rcpts, []string{"carol@other.test"}) {
		t.Fatalf("other.test got %+v", tb)
	}
	if string(ta[0].Data) != testMsg {
		t.Errorf("bytes changed in transit:\n%q\nwant\n%q", ta[0].Data, testMsg)
	}
	if ta[0].From != "alice@local.test" {
		t.Errorf("MAIL FROM %q", ta[0].From)
	}
}

func TestBounceWithOriginalHeaders(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	p := serve(t, &peer{rcpt: func(to string) error {
		if strings.HasPrefix(to, "nobody@") {
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		return nil
	}}, lns[0])
	e := newEnv(t, port, remoteZone(t))
	id := e.enqueue("alice@local.test", "nobody@remote.test", "bob@remote.test")
	e.gone(id)
	if got := p.txns(); len(got) != 1 || !slices.Equal(got[0].Rcpts, []string{"bob@remote.test"}) {
		t.Fatalf("peer got %+v, want bob only", got)
	}
	dsns := e.box.all()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	d := dsns[0]
	if d.from != "" || d.rcpt != "alice@local.test" {
		t.Errorf("DSN envelope %q -> %q, want <> -> alice@local.test", d.from, d.rcpt)
	}
	contains(t, "DSN", string(d.data),
		"Content-Type: multipart/report; report-type=delivery-status",
		"Content-Type: message/delivery-status", "Content-Type: text/rfc822-headers",
		"Final-Recipient: rfc822; nobody@remote.test", "Action: failed", "Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1 no such user", "Remote-MTA: dns; mx.remote.test",
		"Subject: queue test", "Message-ID: <q1@local.test>")
	if strings.Contains(string(d.data), "bob@remote.test\r\nAction") || strings.Contains(string(d.data), "Hello over the queue") {
		t.Error("DSN names the delivered recipient or carries the body")
	}
}

func TestNullSenderNeverBounced(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	serve(t, &peer{rcpt: func(string) error { return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no") }}, lns[0])
	e := newEnv(t, port, remoteZone(t))
	id := e.enqueue("", "bob@remote.test")
	e.gone(id)
	if n := len(e.box.all()); n != 0 {
		t.Fatalf("%d DSNs for a null-sender message", n)
	}
	if items, _ := e.q.List(); len(items) != 0 {
		t.Fatalf("queue not empty: %+v", items)
	}
}

func TestTimeoutIsTemporary(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	ln := lns[0]
	t.Cleanup(func() { ln.Close() })
	go func() { // accepts, never says a word
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) {
		o.CommandTimeout = 300 * time.Millisecond
		o.Retry = []time.Duration{time.Hour}
	})
	start := time.Now()
	id := e.enqueue("alice@local.test", "bob@remote.test")
	waitFor(t, "the attempt to time out", 5*time.Second, func() bool { return e.item(id).Attempts == 1 })
	it := e.item(id)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("attempt took %v with a 300ms command timeout", d)
	}
	r := it.Rcpts[0]
	if r.State != queue.Pending || !strings.Contains(r.LastReply, "timeout") || !strings.HasPrefix(r.Status, "4.") {
		t.Fatalf("after a silent server: %+v", r)
	}
	if next := r.NextAttempt; time.Until(next) < 50*time.Minute {
		t.Errorf("next attempt %v, want about an hour away", next)
	}
}

func TestSTARTTLS(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	for _, tc := range []struct {
		name   string
		client bool // the queue trusts the peer's certificate
		offer  bool
		want   string
	}{
		{name: "self-signed, unverified", offer: true, want: "tls=unverified"},
		{name: "trusted, verified", offer: true, client: true, want: "tls=verified"},
		{name: "not offered, plain", want: "tls=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, lns := listenAll(t, "127.0.0.2")
			p := serve(t, &peer{}, lns[0], func(s *smtp.Server) {
				if tc.offer {
					s.TLSConfig = srvTLS
				}
			})
			e := newEnv(t, port, dnsmxtest.Start(t, "remote.test. 60 IN MX 10 localhost.", "localhost. 60 IN A 127.0.0.2"),
				func(o *queue.Options) {
					if tc.client {
						o.TLSConfig = cliTLS
					}
				})
			id := e.enqueue("alice@local.test", "bob@remote.test")
			e.gone(id)
			got := p.txns()
			if len(got) != 1 || got[0].TLS != tc.offer {
				t.Fatalf("peer got %+v, want one transaction with TLS %v", got, tc.offer)
			}
			e.logged("msg=\"delivery attempt\"", "id="+id, tc.want, "delivered=1")
		})
	}
}

func TestLoopDetection(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	p := serve(t, &peer{}, lns[0])
	e := newEnv(t, port, remoteZone(t))
	msg := strings.Repeat("Received: from a by b; Tue, 24 Nov 2026 06:00:00 +0000\r\n", 101) + "Subject: loop\r\n\r\nbody\r\n"
	id, err := e.q.Enqueue(t.Context(), "alice@local.test", []string{"bob@remote.test"}, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	e.gone(id)
	if n := len(p.txns()); n != 0 {
		t.Fatalf("a looping message was sent %d times", n)
	}
	dsns := e.box.all()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs", len(dsns))
	}
	contains(t, "DSN", string(dsns[0].data), "Status: 5.4.6", "Subject: loop")
}

func TestSMTPUTF8Required(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2", "127.0.0.3")
	old := serve(t, &peer{}, lns[0], func(s *smtp.Server) { s.EnableSMTPUTF8 = false })
	modern := serve(t, &peer{}, lns[1])
	e := newEnv(t, port, dnsmxtest.Start(t,
		"remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.2",
		"other.test. 60 IN MX 10 mx.other.test.", "mx.other.test. 60 IN A 127.0.0.3"))
	id1 := e.enqueue("alice@local.test", "jösé@remote.test")
	id2 := e.enqueue("alice@local.test", "jösé@other.test")
	e.gone(id1)
	e.gone(id2)
	if n := len(old.txns()); n != 0 {
		t.Errorf("server without SMTPUTF8 got %d transactions", n)
	}
	if got := modern.txns(); len(got) != 1 || got[0].Rcpts[0] != "jösé@other.test" {
		t.Errorf("SMTPUTF8 server got %+v", got)
	}
	dsns := e.box.all()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	contains(t, "DSN", string(dsns[0].data), "Status: 5.6.7", "SMTPUTF8")
}
