package queue_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/dnsmx/dnsmxtest"
	"petrel/queue"
)

// TestRestartPersistence queues while the peer is down, closes the queue,
// brings the peer up, reopens the queue file: the message is delivered.
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.2")
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) { o.Retry = []time.Duration{time.Hour} })
	id := e.enqueue("alice@local.test", "bob@remote.test", "carol@remote.test")
	waitFor(t, "the refused attempt", 5*time.Second, func() bool { return e.item(id).Attempts == 1 })
	e.close()

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", itoa(port)))
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	p := serve(t, &peer{}, ln)
	e.open()
	items, err := e.q.List()
	if err != nil || len(items) != 1 || items[0].ID != id || len(items[0].Rcpts) != 2 {
		t.Fatalf("after reopening: %+v, %v", items, err)
	}
	if err := e.q.Retry(""); err != nil { // the next attempt is an hour away
		t.Fatal(err)
	}
	e.gone(id)
	if got := p.txns(); len(got) != 1 || len(got[0].Rcpts) != 2 {
		t.Fatalf("peer got %+v", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestExpiryAndDelayWarning(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	p := serve(t, &peer{rcpt: func(string) error { return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full") }}, lns[0])
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) {
		o.Retry = []time.Duration{30 * time.Millisecond}
		o.DelayWarning = time.Nanosecond
		o.MaxAge = 400 * time.Millisecond
	})
	id := e.enqueue("alice@local.test", "bob@remote.test")
	e.gone(id)
	_ = p
	dsns := e.box.all()
	if len(dsns) != 2 {
		t.Fatalf("%d DSNs, want a delay warning and a failure", len(dsns))
	}
	contains(t, "delay warning", string(dsns[0].data), "Action: delayed", "Status: 4.2.2", "Delayed Mail", "Subject: queue test")
	contains(t, "expiry DSN", string(dsns[1].data), "Action: failed", "Status: 4.4.7", "expired", "mailbox full")
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.2") // nobody listens: every attempt is deferred
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) { o.Retry = []time.Duration{time.Hour} })
	ctx := context.Background()
	ids := []string{e.enqueue("alice@local.test", "bob@remote.test"), e.enqueue("alice@local.test", "carol@remote.test"),
		e.enqueue("alice@local.test", "dave@remote.test")}
	waitFor(t, "three attempts", 5*time.Second, func() bool {
		items, _ := e.q.List()
		n := 0
		for _, it := range items {
			n += it.Attempts
		}
		return n == 3
	})
	items, err := e.q.List()
	if err != nil || len(items) != 3 {
		t.Fatalf("List: %d, %v", len(items), err)
	}
	for i, it := range items {
		if it.ID != ids[i] || it.From != "alice@local.test" || it.LastErr == "" || it.NextAttempt().Before(time.Now().Add(50*time.Minute)) {
			t.Errorf("item %d: %+v (next %v)", i, it, it.NextAttempt())
		}
	}
	it, body, err := e.q.Show(ids[0])
	if err != nil || string(body) != testMsg || it.Rcpts[0].Addr != "bob@remote.test" {
		t.Fatalf("Show: %+v %q %v", it, body, err)
	}

	if err := e.q.Retry(ids[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retried attempt", 5*time.Second, func() bool { return e.item(ids[1]).Attempts == 2 })
	if n := e.item(ids[2]).Attempts; n != 1 {
		t.Errorf("Retry(one) retried another: %d attempts", n)
	}

	if err := e.q.Delete(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.q.Bounce(ids[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bounce", 5*time.Second, func() bool { return len(e.box.all()) == 1 })
	contains(t, "admin bounce", string(e.box.all()[0].data), "Final-Recipient: rfc822; carol@remote.test", "cancelled by the postmaster")
	waitFor(t, "the bounce to leave the queue", 5*time.Second, func() bool {
		items, _ = e.q.List()
		return len(items) == 1
	})
	if items[0].ID != ids[2] {
		t.Fatalf("after delete and bounce: %+v", items)
	}
	for _, op := range []func(string) error{e.q.Delete, e.q.Bounce, e.q.Retry} {
		if err := op("nonexistent"); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("op on a missing ID: %v", err)
		}
	}
	if _, err := e.q.Enqueue(ctx, "a@local.test", nil, []byte(testMsg)); err == nil {
		t.Error("Enqueue without recipients succeeded")
	}
	if _, err := e.q.Enqueue(ctx, "a@local.test", []string{"nodomain"}, []byte(testMsg)); err == nil {
		t.Error("Enqueue to an address without domain succeeded")
	}
}

func TestRelayHostWithAuth(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	port, lns := listenAll(t, "127.0.0.1")
	relay := serve(t, &peer{user: "petrel"}, lns[0], func(s *smtp.Server) { s.TLSConfig = srvTLS })
	e := newEnv(t, 0, dnsmxtest.Start(t), func(o *queue.Options) {
		o.Resolver = nil
		o.RelayHost = "127.0.0.1:" + itoa(port)
		o.RelayUser, o.RelayPassword = "petrel", "relaypw"
		o.TLSConfig = cliTLS
	})
	id := e.enqueue("alice@local.test", "bob@nowhere.invalid", "carol@elsewhere.invalid")
	e.gone(id)
	got := relay.txns()
	if len(got) != 2 {
		t.Fatalf("relay got %d transactions, want one per domain", len(got))
	}
	for _, tx := range got {
		if tx.Auth != "petrel" || !tx.TLS {
			t.Errorf("relay transaction auth %q TLS %v", tx.Auth, tx.TLS)
		}
	}
	if strings.Contains(e.log.String(), "relaypw") {
		t.Error("the relay password is in the log")
	}
}

func TestRelayRefusesPasswordWithoutVerifiedTLS(t *testing.T) {
	srvTLS, _ := testTLS(t)
	for _, tc := range []struct {
		name string
		tls  bool
		want string
	}{
		{name: "untrusted certificate", tls: true, want: "failed to verify certificate"},
		{name: "no STARTTLS", want: "refusing to send the relay password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, lns := listenAll(t, "127.0.0.1")
			relay := serve(t, &peer{user: "petrel"}, lns[0], func(s *smtp.Server) {
				if tc.tls {
					s.TLSConfig = srvTLS
				}
			})
			e := newEnv(t, 0, dnsmxtest.Start(t), func(o *queue.Options) {
				o.Resolver = nil
				o.RelayHost = "127.0.0.1:" + itoa(port)
				o.RelayUser, o.RelayPassword = "petrel", "relaypw"
				o.Retry = []time.Duration{time.Hour}
			})
			id := e.enqueue("alice@local.test", "bob@nowhere.invalid")
			waitFor(t, "the attempt", 5*time.Second, func() bool { return e.item(id).Attempts == 1 })
			if r := e.item(id).Rcpts[0]; r.State != queue.Pending || !strings.Contains(r.LastReply, tc.want) {
				t.Fatalf("%+v", r)
			}
			if n := len(relay.txns()); n != 0 {
				t.Fatalf("relay got %d transactions", n)
			}
		})
	}
}

func TestFallbackRelay(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2", "127.0.0.3")
	lns[0].Close() // the only MX refuses
	fallback := serve(t, &peer{}, lns[1])
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) { o.FallbackRelay = "127.0.0.3:" + itoa(port) })
	id := e.enqueue("alice@local.test", "bob@remote.test")
	e.gone(id)
	if n := len(fallback.txns()); n != 1 {
		t.Fatalf("fallback relay got %d transactions", n)
	}
}

func TestPerDomainLimit(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2", "127.0.0.3")
	// remote.test's server holds each message's DATA until released.
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	defer open() // before the cleanups, which wait for the sessions
	slow := serve(t, &peer{gate: release}, lns[0])
	fast := serve(t, &peer{}, lns[1])
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) { o.PerDomain = 2 })
	var ids []string
	for range 8 {
		ids = append(ids, e.enqueue("alice@local.test", "bob@remote.test"))
	}
	other := e.enqueue("alice@local.test", "carol@other.test")
	active := func() int { slow.mu.Lock(); defer slow.mu.Unlock(); return slow.active }
	waitFor(t, "remote.test's deliveries to fill its limit of 2", 30*time.Second, func() bool { return active() >= 2 })
	// While remote.test's deliveries hang, other.test's goes through.
	waitFor(t, "the other domain while remote.test's are held", 30*time.Second, func() bool { return len(fast.txns()) == 1 })
	open()
	for _, id := range append(ids, other) {
		e.gone(id)
	}
	slow.mu.Lock()
	peak := slow.peak
	slow.mu.Unlock()
	if peak != 2 {
		t.Errorf("peak concurrency at one domain %d, want the limit 2", peak)
	}
}

// Stats counts the queued messages and finds the oldest arrival, as List
// does, and says so for an empty queue.
func TestStats(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.2") // nobody listens: every attempt is deferred
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) { o.Retry = []time.Duration{time.Hour} })
	if n, oldest, err := e.q.Stats(); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty queue: Stats = %d, %v, %v", n, oldest, err)
	}
	first := e.enqueue("alice@local.test", "bob@remote.test")
	e.enqueue("alice@local.test", "carol@remote.test")
	n, oldest, err := e.q.Stats()
	if err != nil || n != 2 {
		t.Fatalf("Stats = %d, %v; want 2", n, err)
	}
	items, err := e.q.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.ID == first && !it.Arrived.Equal(oldest) {
			t.Errorf("oldest %v, want the first message's arrival %v", oldest, it.Arrived)
		}
	}
	if err := e.q.Delete(first); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := e.q.Stats(); n != 1 {
		t.Errorf("after a delete: %d queued, want 1", n)
	}
}

// Each attempt is logged per recipient (time, server, reply), the last
// MaxAttemptLog of them.
func TestAttemptLog(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.1")
	lns[0].Close() // nothing answers
	e := newEnv(t, 0, dnsmxtest.Start(t), func(o *queue.Options) {
		o.Resolver = nil
		o.RelayHost = "127.0.0.1:" + itoa(port)
		o.Retry = []time.Duration{10 * time.Millisecond}
	})
	id := e.enqueue("alice@local.test", "bob@nowhere.invalid")
	waitFor(t, "twelve attempts", 20*time.Second, func() bool { return e.item(id).Attempts >= queue.MaxAttemptLog+2 })
	r := e.item(id).Rcpts[0]
	if len(r.Log) != queue.MaxAttemptLog {
		t.Fatalf("log of %d attempts, want %d: %+v", len(r.Log), queue.MaxAttemptLog, r.Log)
	}
	for i, a := range r.Log {
		if a.Time.IsZero() || !strings.Contains(a.Reply, "refused") || (i > 0 && a.Time.Before(r.Log[i-1].Time)) {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
}

// A finished message is kept, retired, for KeepFinished: one that failed
// for every recipient, and one delivered, each with its recipients'
// results and attempt logs, shown by Show and List but not counted by
// Stats nor retried; Run removes them once their time is up.
func TestKeepFinished(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	serve(t, &peer{rcpt: func(to string) error {
		if strings.HasPrefix(to, "nobody@") {
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		return nil
	}}, lns[0])
	keep := 3 * time.Second
	e := newEnv(t, port, remoteZone(t), func(o *queue.Options) { o.KeepFinished = keep })
	failed := e.enqueue("alice@local.test", "nobody@remote.test")
	delivered := e.enqueue("alice@local.test", "bob@remote.test")
	waitFor(t, "both messages finished", 10*time.Second, func() bool {
		return !e.item(failed).Finished.IsZero() && !e.item(delivered).Finished.IsZero()
	})
	finishedAt := time.Now()
	for id, want := range map[string]queue.State{failed: queue.Failed, delivered: queue.Delivered} {
		it := e.item(id)
		r := it.Rcpts[0]
		if r.State != want || r.Attempts != 1 || len(r.Log) != 1 || r.Log[0].RemoteMTA != "mx.remote.test" || !it.NextAttempt().IsZero() {
			t.Errorf("%s: %+v, want %s after one logged attempt, no next one", id, it, want)
		}
	}
	if r := e.item(failed).Rcpts[0]; !strings.Contains(r.LastReply, "no such user") || r.Status != "5.1.1" {
		t.Errorf("failed recipient: %+v", r)
	}
	items, err := e.q.List()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, it := range items {
		listed[it.ID] = !it.Finished.IsZero()
	}
	if !listed[failed] || !listed[delivered] {
		t.Errorf("List: %+v, want both retired messages", items)
	}
	// The DSN about the failed one is queued too (delivered locally,
	// then retired itself): Stats counts none of them.
	waitFor(t, "nothing queued", 5*time.Second, func() bool {
		n, _, err := e.q.Stats()
		return err == nil && n == 0
	})
	// Retrying all does not bring a retired message back.
	if err := e.q.Retry(""); err != nil {
		t.Fatal(err)
	}
	if it := e.item(failed); it.Rcpts[0].Attempts != 1 || it.Finished.IsZero() {
		t.Errorf("after Retry: %+v", it)
	}
	// A restart keeps them.
	e.close()
	e.open()
	if it := e.item(delivered); it.Finished.IsZero() || it.Rcpts[0].State != queue.Delivered {
		t.Errorf("after a restart: %+v", it)
	}
	e.gone(failed)
	e.gone(delivered)
	if waited := time.Since(finishedAt); waited < keep-time.Second {
		t.Errorf("removed after %v, kept for %v", waited, keep)
	}
}

// KeepFinished 0 (the default in Options) removes a finished message at
// once, as before.
func TestKeepFinishedOff(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	serve(t, &peer{}, lns[0])
	e := newEnv(t, port, remoteZone(t))
	id := e.enqueue("alice@local.test", "bob@remote.test")
	e.gone(id)
}
