package queue_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"petrel/dnsmx"
	"petrel/dnsmx/dnsmxtest"
	"petrel/internal/testenv"
	"petrel/queue"
)

const benchDomains = 20

// countSink accepts everything and counts the messages.
type countSink struct{ n atomic.Int64 }

type countSession struct{ s *countSink }

func (c countSession) Reset()                                    {}
func (c countSession) Logout() error                             { return nil }
func (c countSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (c countSession) Rcpt(string, *smtp.RcptOptions) error      { return nil }
func (c countSession) Data(r io.Reader) error                    { io.Copy(io.Discard, r); c.s.n.Add(1); return nil }
func (s *countSink) NewSession(*smtp.Conn) (smtp.Session, error) { return countSession{s}, nil }

// benchZone points d0.test … d19.test at 127.0.0.2 … 127.0.0.21.
func benchZone(b *testing.B, sameIP bool) *dnsmxtest.Server {
	var recs []string
	for i := range benchDomains {
		ip := fmt.Sprintf("127.0.0.%d", 2+i)
		if sameIP {
			ip = "127.0.0.2"
		}
		recs = append(recs, fmt.Sprintf("d%d.test. 3600 IN MX 10 mx.d%d.test.", i, i),
			fmt.Sprintf("mx.d%d.test. 3600 IN A %s", i, ip))
	}
	return dnsmxtest.Start(b, recs...)
}

func benchQueue(b *testing.B, zone *dnsmxtest.Server, port int) *queue.Queue {
	r, err := dnsmx.New(zone.Addr)
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.Open(queue.Options{
		Path: filepath.Join(b.TempDir(), "queue.db"), Hostname: "petrel.test", Resolver: r, Port: port,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Retry: []time.Duration{10 * time.Millisecond},
	})
	if err != nil {
		b.Fatal(err)
	}
	return q
}

// enqueueAll queues n messages, one recipient each, round robin over the
// domains, from 8 goroutines (as concurrent SMTP sessions would).
func enqueueAll(b *testing.B, q *queue.Queue, n int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				rcpt := fmt.Sprintf("user%d@d%d.test", i, i%benchDomains)
				if _, err := q.Enqueue(context.Background(), "alice@local.test", []string{rcpt}, []byte(testMsg)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkThroughputGoSink: messages per second from Enqueue to the 250
// after the dot, to 20 go-smtp sinks, one per destination domain.
func BenchmarkThroughputGoSink(b *testing.B) {
	ips := make([]string, benchDomains)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.0.0.%d", 2+i)
	}
	port, lns := listenAllB(b, ips...)
	sink := &countSink{}
	for _, ln := range lns {
		s := smtp.NewServer(sink)
		s.Domain = "sink.test"
		s.ErrorLog = discardLog{}
		go s.Serve(ln)
		b.Cleanup(func() { s.Close() })
	}
	q := benchQueue(b, benchZone(b, false), port)
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	b.ResetTimer()
	start := time.Now()
	enqueueAll(b, q, b.N)
	drain(b, "messages not received by the sinks", time.Millisecond, func() int { return b.N - int(sink.n.Load()) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkThroughputSmtpSink: the same load to Postfix's smtp-sink, all
// 20 domains' MX on one smtp-sink; done when the queue is empty.
func BenchmarkThroughputSmtpSink(b *testing.B) {
	bin := testenv.RequireTool(b, "smtp-sink")
	port := freePortB(b, "127.0.0.2")
	cmd := exec.Command(bin, "-u", "nobody", "127.0.0.2:"+strconv.Itoa(port), "256")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.2:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			break
		}
		if i == 1500 {
			b.Fatalf("smtp-sink not listening after 30 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	q := benchQueue(b, benchZone(b, true), port)
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	b.ResetTimer()
	start := time.Now()
	enqueueAll(b, q, b.N)
	drain(b, "messages in the queue", 5*time.Millisecond, func() int {
		items, err := q.List()
		if err != nil {
			b.Fatal(err)
		}
		return len(items)
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// drain polls left every poll until it is 0, and fails the benchmark if
// it stays the same for a minute: a queue that stopped delivering would
// otherwise keep the benchmark (and CI) waiting for good.
func drain(b *testing.B, what string, poll time.Duration, left func() int) {
	b.Helper()
	last, since := -1, time.Now()
	for n := left(); n > 0; n = left() {
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > time.Minute {
			b.Fatalf("%d %s, and none gone for a minute", n, what)
		}
		time.Sleep(poll)
	}
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

func listenAllB(b *testing.B, ips ...string) (int, []net.Listener) {
	for range 20 {
		first, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			b.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(ips) {
			b.Cleanup(func() {
				for _, ln := range lns {
					ln.Close()
				}
			})
			return port, lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	b.Fatal("no common free port")
	return 0, nil
}

func freePortB(b *testing.B, ip string) int {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// BenchmarkEnqueue: durable Enqueue calls per second from parallel
// sessions (bbolt Batch shares one fsync among concurrent calls).
func BenchmarkEnqueue(b *testing.B) {
	q := benchQueue(b, benchZone(b, true), freePortB(b, "127.0.0.2"))
	defer q.Close()
	b.SetParallelism(8)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Enqueue(context.Background(), "alice@local.test", []string{"bob@d1.test"}, []byte(testMsg)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
