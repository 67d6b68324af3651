package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/internal/pgtest"
	"petrel/queue"
	"petrel/queue/pgqueue"
	"petrel/store/pgstore"
)

// sink is an SMTP server that counts the messages it accepts, by tag.
type sink struct {
	mu   sync.Mutex
	got  map[string]int
	addr string
}

func newSink(t *testing.T) *sink {
	k := &sink{got: map[string]int{}}
	s := smtp.NewServer(k)
	s.Domain = "sink.example"
	s.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return k
}

func (k *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

type sinkSession struct{ k *sink }

var tagRe = regexp.MustCompile(`tag-\d+`)

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	s.k.got[tagRe.FindString(string(b))]++
	s.k.mu.Unlock()
	return nil
}

func (k *sink) count() (distinct, total int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range k.got {
		distinct++
		total += n
	}
	return
}

// sharedQueues opens n queues on one database, as n nodes would, each
// relaying to relay, with leases of lease.
func sharedQueues(t *testing.T, n int, relay string, lease time.Duration) ([]*queue.Queue, *pgstore.Store) {
	dsn := pgtest.DSN(t)
	var qs []*queue.Queue
	var first *pgstore.Store
	for range n {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if first == nil {
			first = s
		}
		q, err := queue.Open(queue.Options{Shared: pgqueue.NewStore(s.Pool()), Lease: lease, RelayHost: relay,
			Hostname: "mx.example.org", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	return qs, first
}

func run(t *testing.T, q *queue.Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; q.Close() })
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSharedQueueAcrossNodes: messages queued through one node are
// delivered by the three nodes between them, each once (no crash here),
// and leave the queue; List, Stats, Show and Delete see the one queue from
// every node.
func TestSharedQueueAcrossNodes(t *testing.T) {
	k := newSink(t)
	qs, _ := sharedQueues(t, 3, k.addr, time.Minute)
	// Queued before any node runs: B and C must find them in the database.
	const n = 30
	for i := range n {
		if _, err := qs[0].Enqueue(ctx, "alice@example.org", []string{fmt.Sprintf("bob%d@remote.example", i%3)},
			[]byte(fmt.Sprintf("Subject: tag-%d\r\n\r\nhello\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if size, oldest, err := qs[2].Stats(); err != nil || size != n || oldest.IsZero() {
		t.Fatalf("node C's Stats: %d, %v, %v; want %d messages", size, oldest, err, n)
	}
	items, err := qs[1].List()
	if err != nil || len(items) != n {
		t.Fatalf("node B lists %d messages, %v; want %d", len(items), err, n)
	}
	if it, body, err := qs[2].Show(items[0].ID); err != nil || it.ID != items[0].ID || len(body) == 0 {
		t.Fatalf("node C's Show(%s): %+v, %d bytes, %v", items[0].ID, it, len(body), err)
	}
	if err := qs[1].Delete(items[n-1].ID); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs[1:] {
		run(t, q)
	}
	waitUntil(t, time.Minute, "every message delivered", func() bool {
		d, _ := k.count()
		return d == n-1
	})
	waitUntil(t, 30*time.Second, "an empty queue", func() bool {
		size, _, err := qs[0].Stats()
		return err == nil && size == 0
	})
	if d, total := k.count(); d != n-1 || total != n-1 {
		t.Fatalf("sink got %d distinct messages, %d in all; want %d, each once", d, total, n-1)
	}
}

// TestSharedQueueTakesOverDeadNode: a node that claimed deliveries and
// died (its leases never renewed nor given back) delays them only until
// its leases run out; another node then delivers them.
func TestSharedQueueTakesOverDeadNode(t *testing.T) {
	k := newSink(t)
	qs, st := sharedQueues(t, 2, k.addr, 2*time.Second)
	for i := range 5 {
		if _, err := qs[0].Enqueue(ctx, "alice@example.org", []string{"bob@remote.example"},
			[]byte(fmt.Sprintf("Subject: tag-%d\r\n\r\nhello\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The dead node: claims everything for 2 s, then nothing.
	dead, err := pgqueue.New(st.Pool()).Claim(ctx, "dead-node", 2*time.Second, 100, 100)
	if err != nil || len(dead) != 5 {
		t.Fatalf("dead node claimed %d units, %v; want 5", len(dead), err)
	}
	start := time.Now()
	run(t, qs[1])
	waitUntil(t, time.Minute, "the dead node's deliveries made by the other", func() bool {
		d, _ := k.count()
		return d == 5
	})
	if took := time.Since(start); took < time.Second {
		t.Fatalf("delivered after %v, while the dead node's leases still ran", took)
	}
}

// TestSharedQueueKeepsFinished: on the shared queue too a delivered
// message stays, retired, for KeepFinished (Show sees it, Stats does not
// count it), and a node's loop removes it when its time is up.
func TestSharedQueueKeepsFinished(t *testing.T) {
	k := newSink(t)
	dsn := pgtest.DSN(t)
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q, err := queue.Open(queue.Options{Shared: pgqueue.NewStore(s.Pool()), RelayHost: k.addr, KeepFinished: 3 * time.Second,
		Hostname: "mx.example.org", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Enqueue(ctx, "alice@example.org", []string{"bob@remote.example"}, []byte("Subject: kept\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, q)
	waitUntil(t, 30*time.Second, "the message retired", func() bool {
		it, _, err := q.Show(id)
		return err == nil && !it.Finished.IsZero()
	})
	if it, _, _ := q.Show(id); it.Rcpts[0].State != queue.Delivered || len(it.Rcpts[0].Log) != 1 {
		t.Errorf("retired entry: %+v", it)
	}
	if n, _, err := q.Stats(); err != nil || n != 0 {
		t.Errorf("Stats counts %d messages (%v), want 0: a retired entry is not queued", n, err)
	}
	waitUntil(t, 30*time.Second, "the retired entry removed", func() bool {
		_, _, err := q.Show(id)
		return errors.Is(err, queue.ErrNotFound)
	})
}

// localFunc is a queue.LocalDeliverer from a function.
type localFunc func(ctx context.Context, from, rcpt string, msg []byte) error

func (f localFunc) DeliverLocal(ctx context.Context, from, rcpt string, msg []byte) error {
	return f(ctx, from, rcpt, msg)
}

// TestSharedQueueMakesLocal: a shared queue, as a bbolt one, makes its
// local deliverer with Options.NewLocal in Open (petrel serve's MTA is made
// there: a shared queue that skipped it left serve without an MTA), and
// fails Open when NewLocal does.
func TestSharedQueueMakesLocal(t *testing.T) {
	s, err := pgstore.Open(ctx, pgtest.DSN(t), pgstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var got *queue.Queue
	q, err := queue.Open(queue.Options{Shared: pgqueue.NewStore(s.Pool()), RelayHost: "127.0.0.1:1", Hostname: "mx.example.org",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewLocal: func(q *queue.Queue) (queue.LocalDeliverer, error) {
			got = q
			return localFunc(func(context.Context, string, string, []byte) error { return nil }), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got != q {
		t.Fatalf("NewLocal called with %p, want the queue Open returned (%p)", got, q)
	}
	_, err = queue.Open(queue.Options{Shared: pgqueue.NewStore(s.Pool()), RelayHost: "127.0.0.1:1", Hostname: "mx.example.org",
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewLocal: func(*queue.Queue) (queue.LocalDeliverer, error) { return nil, fmt.Errorf("no MTA") }})
	if err == nil || !strings.Contains(err.Error(), "no MTA") {
		t.Fatalf("Open with a failing NewLocal: %v, want its error", err)
	}
}
