package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"petrel/dnsmx/dnsmxtest"
	"petrel/internal/testenv"
)

// The storm: hostile clients at once on every listener, on loopback, while
// a normal client sends and reads mail: the 1,000 (stormClients),
// for 20 s, which finishes in about 25 s on 2 shared cores under -race.
const (
	stormLoginConns = 60  // per protocol (IMAP, POP3, submission), each from its own address, guessing passwords
	stormSlowConns  = 120 // per listener (SMTP, submission, IMAP, POP3, HTTP), trickling a byte a second
	stormIdleHTTP   = 200 // connections that send nothing
	stormStalled    = 20  // SMTP transactions stalled in DATA after 1 MiB
	stormClients    = 3*stormLoginConns + 5*stormSlowConns + stormIdleHTTP + stormStalled
	stormTime       = 20 * time.Second
	stormMaxLatency = 2 * time.Second
	stormMaxMemory  = 1 << 30
)

// lineConn is a client of a line protocol.
type lineConn struct {
	net.Conn
	r *bufio.Reader
}

func dialFrom(ctx context.Context, from, addr string) (*lineConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &lineConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// cmd sends line (if not "") and reads lines until one starts with final,
// and returns it; an error if the reply is another or does not come.
func (c *lineConn) cmd(line, final, want string) (string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if line != "" {
		if _, err := fmt.Fprintf(c, "%s\r\n", line); err != nil {
			return "", err
		}
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return l, fmt.Errorf("%q: %w", line, err)
		}
		if strings.HasPrefix(l, final) {
			if !strings.HasPrefix(l, want) {
				return l, fmt.Errorf("%q: %q, want %q", line, strings.TrimSpace(l), want)
			}
			return l, nil
		}
	}
}

// steps runs each [line, final, want] in order.
func (c *lineConn) steps(s ...[3]string) error {
	for _, st := range s {
		if _, err := c.cmd(st[0], st[1], st[2]); err != nil {
			return err
		}
	}
	return nil
}

func plainAuth(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

// stormEnv is the server under the storm and its normal client.
type stormEnv struct {
	in                         *instance
	pop3Addr, user, pw, sender string
	trace                      func(string) // the steps of the last SMTP transaction
}

// normalRound sends a message on port 25 and on submission, reads the
// mailbox over IMAP and POP3 and asks /healthz, and returns how long each
// took.
func (e *stormEnv) normalRound(ctx context.Context, n int) (map[string]time.Duration, error) {
	in := e.in
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: round %d\r\n\r\nHello.\r\n", e.sender, e.user, n)
	ops := []struct {
		name string
		run  func() error
	}{
		{"smtp", func() error {
			c, err := dialFrom(ctx, "", in.smtpAddr)
			if err != nil {
				return err
			}
			defer c.Close()
			var steps []string
			last := time.Now()
			for _, st := range [][3]string{{"", "220 ", "220 "}, {"EHLO normal.example", "250 ", "250 "},
				{"MAIL FROM:<" + e.sender + ">", "", "250 "}, {"RCPT TO:<" + e.user + ">", "", "250 "}, {"DATA", "", "354 "},
				{msg + ".", "", "250 "}, {"QUIT", "", "221 "}} {
				if _, err := c.cmd(st[0], st[1], st[2]); err != nil {
					return err
				}
				steps = append(steps, fmt.Sprintf("%.12q %v", st[0], time.Since(last).Round(time.Millisecond)))
				last = time.Now()
			}
			if e.trace != nil {
				e.trace(strings.Join(steps, ", "))
			}
			return nil
		}},
		{"submission", func() error {
			c, err := dialFrom(ctx, "", in.subAddr)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.steps([3]string{"", "220 ", "220 "}, [3]string{"EHLO normal.example", "250 ", "250 "},
				[3]string{"AUTH PLAIN " + plainAuth(e.user, e.pw), "", "235 "}, [3]string{"MAIL FROM:<" + e.user + ">", "", "250 "},
				[3]string{"RCPT TO:<" + e.user + ">", "", "250 "}, [3]string{"DATA", "", "354 "},
				[3]string{msg + ".", "", "250 "}, [3]string{"QUIT", "", "221 "})
		}},
		{"imap", func() error {
			c, err := dialFrom(ctx, "", in.imapAddr)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.steps([3]string{"", "* OK", "* OK"}, [3]string{"a LOGIN " + e.user + " " + e.pw, "a ", "a OK"},
				[3]string{"b SELECT INBOX", "b ", "b OK"}, [3]string{"c FETCH 1:* (FLAGS)", "c ", "c OK"}, [3]string{"d LOGOUT", "d ", "d OK"})
		}},
		{"pop3", func() error {
			c, err := dialFrom(ctx, "", e.pop3Addr)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.steps([3]string{"", "", "+OK"}, [3]string{"USER " + e.user, "", "+OK"}, [3]string{"PASS " + e.pw, "", "+OK"},
				[3]string{"STAT", "", "+OK"}, [3]string{"QUIT", "", "+OK"})
		}},
		{"http", func() error {
			c := http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get("http://" + in.httpAddr + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("/healthz: %s", resp.Status)
			}
			return nil
		}},
	}
	took := map[string]time.Duration{}
	for _, op := range ops {
		start := time.Now()
		if err := op.run(); err != nil {
			return took, fmt.Errorf("%s: %w", op.name, err)
		}
		took[op.name] = time.Since(start)
	}
	return took, nil
}

// hostile runs f again and again (a new connection each time) until ctx
// ends, counting each run in runs; f calls up once its connection is
// established, which counts the client in upCount the first time (the
// storm is on when every client is).
func hostile(ctx context.Context, wg *sync.WaitGroup, runs, upCount *atomic.Int64, f func(up func()) error) {
	wg.Go(func() {
		var once sync.Once
		up := func() { once.Do(func() { upCount.Add(1) }) }
		for ctx.Err() == nil {
			runs.Add(1)
			if err := f(up); err != nil && ctx.Err() == nil {
				select { // refused or closed: back off a little, as a bot would not
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	})
}

// loadPerCPU is the 1-minute load average over the number of CPUs.
func loadPerCPU(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Logf("no load average: %v", err)
		return 1
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l / float64(runtime.NumCPU())
}

// stormGuessGap is the least time between two guesses of one hostile
// connection: 180 connections guess up to 1,800 times a second in all,
// without each spinning on the instant refusals of a locked-out address.
const stormGuessGap = 100 * time.Millisecond

// pace waits before guess n (none before the first) and says whether the
// storm goes on.
func pace(ctx context.Context, n int) bool {
	if n > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(stormGuessGap):
		}
	}
	return ctx.Err() == nil
}

// closeOnDone closes c when ctx ends, so that a blocked read returns.
func closeOnDone(ctx context.Context, c net.Conn) func() {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return func() { stop(); c.Close() }
}

// trickleLine writes line a byte a second until ctx ends or the server
// closes the connection.
func trickleLine(ctx context.Context, c net.Conn, line string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(line) {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte{line[i]}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// TestStorm is the proof: while hostile clients storm every
// listener at once (password guessing on IMAP, POP3 and submission from
// many addresses, slowloris on every listener, idle HTTP, SMTP stalled in
// DATA), a normal client is served within 2 s (nine times in ten on any
// machine; every time on one that is not oversubscribed, see the bounds
// below), the server's memory (its peak RSS, measured from the process)
// stays under 1 GiB, and afterwards every listener serves again.
func TestStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("the storm takes about 25 s")
	}
	dns := dnsmxtest.Start(t)
	e := &stormEnv{pop3Addr: freePort(t), user: "bob@hamburger.edu", pw: "bob-storm-pw", sender: "alice@crepes.fr"}
	e.in = newInstanceWith(t, instanceOpts{imapAddr: freePort(t),
		extra: fmt.Sprintf("pop3 = %q\n[dns]\nresolver = %q\n", e.pop3Addr, dns.Addr)})
	in := e.in
	if _, errOut, code := in.petrel(e.pw+"\n", "user", "add", e.user); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	in.start()
	pid := in.cmd.Process.Pid
	ctx := t.Context()

	// The normal client has logged in before (its password is in the
	// good-login cache, as a client that checks mail every few minutes).
	base, err := e.normalRound(ctx, 0)
	if err != nil {
		t.Fatalf("before the storm: %v", err)
	}
	rssBefore := testenv.RSS(t, pid)
	testenv.ResetPeakRSS(t, pid)

	var upCount atomic.Int64
	stormStart := time.Now()
	storm, stop := context.WithTimeout(ctx, stormTime)
	defer stop()
	var wg sync.WaitGroup
	var runs atomic.Int64
	addr := func(net, i int) string { return fmt.Sprintf("127.%d.%d.%d", net, i/250, i%250+1) }
	for i := range stormLoginConns {
		// Guessing passwords, a connection after another.
		hostile(storm, &wg, &runs, &upCount, func(up func()) error {
			c, err := dialFrom(storm, addr(1, i), in.imapAddr)
			if err != nil {
				return err
			}
			defer closeOnDone(storm, c)()
			if _, err := c.cmd("", "* ", "* OK"); err != nil {
				return err
			}
			up()
			for n := 0; pace(storm, n); n++ {
				if _, err := c.cmd(fmt.Sprintf("a%d LOGIN %s guess%d", n, e.user, n), fmt.Sprintf("a%d ", n), fmt.Sprintf("a%d NO", n)); err != nil {
					return err
				}
			}
			return nil
		})
		hostile(storm, &wg, &runs, &upCount, func(up func()) error {
			c, err := dialFrom(storm, addr(2, i), e.pop3Addr)
			if err != nil {
				return err
			}
			defer closeOnDone(storm, c)()
			if _, err := c.cmd("", "", "+OK"); err != nil {
				return err
			}
			up()
			for n := 0; pace(storm, n); n++ {
				if _, err := c.cmd(fmt.Sprintf("AUTH PLAIN %s", plainAuth(e.user, fmt.Sprint("guess", n))), "", "-ERR"); err != nil {
					return err
				}
			}
			return nil
		})
		hostile(storm, &wg, &runs, &upCount, func(up func()) error {
			c, err := dialFrom(storm, addr(3, i), in.subAddr)
			if err != nil {
				return err
			}
			defer closeOnDone(storm, c)()
			if err := c.steps([3]string{"", "220 ", "220 "}, [3]string{"EHLO bot.example", "250 ", "250 "}); err != nil {
				return err
			}
			up()
			for n := 0; pace(storm, n); n++ {
				if _, err := c.cmd("AUTH PLAIN "+plainAuth(e.user, fmt.Sprint("guess", n)), "", "4"); err != nil && !strings.Contains(err.Error(), `"535`) {
					return err
				}
			}
			return nil
		})
	}
	// Slowloris on every listener: a command (or request header) never ended.
	slow := []struct{ addr, line string }{
		{in.smtpAddr, "EHLO slow.example.com and so on for ever"}, {in.subAddr, "EHLO slow.example.com and so on for ever"},
		{in.imapAddr, "a LOGIN slowly-but-surely and so on for ever"}, {e.pop3Addr, "USER slowly-but-surely and so on for ever"},
		{in.httpAddr, "GET /healthz HTTP/1.1\r\nX-Slow: and so on for ever"},
	}
	for li, s := range slow {
		for i := range stormSlowConns {
			hostile(storm, &wg, &runs, &upCount, func(up func()) error {
				c, err := dialFrom(storm, addr(10+li, i), s.addr)
				if err != nil {
					return err
				}
				defer closeOnDone(storm, c)()
				up()
				return trickleLine(storm, c, s.line)
			})
		}
	}
	for i := range stormIdleHTTP {
		hostile(storm, &wg, &runs, &upCount, func(up func()) error {
			c, err := dialFrom(storm, addr(20, i), in.httpAddr)
			if err != nil {
				return err
			}
			defer closeOnDone(storm, c)()
			up()
			c.SetReadDeadline(time.Time{})
			_, err = c.r.ReadByte() // until the server closes it
			return err
		})
	}
	chunk := strings.Repeat("Stalled line of a large message that never ends.\r\n", 1<<20/52)
	for i := range stormStalled {
		hostile(storm, &wg, &runs, &upCount, func(up func()) error {
			c, err := dialFrom(storm, addr(30, i), in.smtpAddr)
			if err != nil {
				return err
			}
			defer closeOnDone(storm, c)()
			if err := c.steps([3]string{"", "220 ", "220 "}, [3]string{"EHLO stall.example", "250 ", "250 "},
				[3]string{"MAIL FROM:<x@crepes.fr>", "", "250 "}, [3]string{"RCPT TO:<" + e.user + ">", "", "250 "}, [3]string{"DATA", "", "354 "}); err != nil {
				return err
			}
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write([]byte(chunk)); err != nil {
				return err
			}
			up()
			<-storm.Done()
			return nil
		})
	}

	// The normal client, round after round, once every hostile client is
	// at it, until the storm ends.
	for upCount.Load() < stormClients && storm.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stormUp := time.Since(stormStart)
	load := loadPerCPU(t)
	var rss []int64
	lat := map[string][]time.Duration{}
	rounds := 0
	for storm.Err() == nil {
		rounds++
		var smtpSteps string
		e.trace = func(s string) { smtpSteps = s }
		took, err := e.normalRound(ctx, rounds)
		rss = append(rss, testenv.RSS(t, pid))
		if err != nil {
			t.Errorf("round %d during the storm: %v", rounds, err)
			continue
		}
		var slowOps []string
		for op, d := range took {
			lat[op] = append(lat[op], d)
			if d > stormMaxLatency {
				slowOps = append(slowOps, fmt.Sprintf("%s %v", op, d.Round(time.Millisecond)))
			}
		}
		if len(slowOps) > 0 {
			t.Logf("round %d at %v over %v: %s (SMTP steps: %s)", rounds, time.Since(stormStart).Round(time.Millisecond), stormMaxLatency, strings.Join(slowOps, ", "), smtpSteps)
		}
	}
	peak := testenv.PeakRSS(t, pid)
	stop()
	wg.Wait()
	load = max(load, loadPerCPU(t))

	// Every operation of nine rounds in ten within 2 s; the slowest
	// within 2 s as well on a machine that is not oversubscribed, and
	// within 2 s times its oversubscription (load average per CPU) on one
	// that is (CI on shared cores, with the race detector).
	maxBound := time.Duration(float64(stormMaxLatency) * max(1, load))
	var line []string
	for _, op := range []string{"smtp", "submission", "imap", "pop3", "http"} {
		ds := lat[op]
		slices.Sort(ds)
		if len(ds) == 0 {
			continue
		}
		p50, p90, worst := ds[len(ds)/2], ds[len(ds)*9/10], ds[len(ds)-1]
		line = append(line, fmt.Sprintf("%s %v/%v/%v (before %v)", op, p50.Round(time.Millisecond), p90.Round(time.Millisecond), worst.Round(time.Millisecond), base[op].Round(time.Millisecond)))
		if p90 > stormMaxLatency {
			t.Errorf("%s: 90th percentile %v during the storm, over %v", op, p90.Round(time.Millisecond), stormMaxLatency)
		}
		if worst > maxBound {
			t.Errorf("%s: slowest %v during the storm, over %v (%v at a load of %.1f per CPU)", op, worst.Round(time.Millisecond), maxBound, stormMaxLatency, load)
		}
	}
	t.Logf("%d hostile clients at once for %v (all at it after %v), %d hostile connections in all; %d normal rounds, load %.1f per CPU; latency p50/p90/max: %s",
		stormClients, stormTime, stormUp.Round(time.Millisecond), runs.Load(), rounds, load, strings.Join(line, ", "))
	t.Logf("server RSS before %d MiB, peak during the storm %d MiB (samples: max %d MiB)", rssBefore>>20, peak>>20, slices.Max(append(rss, 0))>>20)
	if rounds < 3 {
		t.Errorf("only %d normal rounds in %v", rounds, stormTime)
	}
	if peak > stormMaxMemory {
		t.Errorf("peak RSS %d MiB during the storm, over %d MiB", peak>>20, stormMaxMemory>>20)
	}

	// After the storm, every listener serves again, and /readyz is ready.
	for _, l := range []struct{ name, addr, greeting string }{
		{"smtp", in.smtpAddr, "220 "}, {"submission", in.subAddr, "220 "}, {"imap", in.imapAddr, "* OK"}, {"pop3", e.pop3Addr, "+OK"},
	} {
		if got, ok := greets(l.addr, l.greeting, 10*time.Second); !ok {
			t.Errorf("%s after the storm: %q, want %q", l.name, got, l.greeting)
		}
	}
	if _, err := e.normalRound(ctx, rounds+1); err != nil {
		t.Errorf("after the storm: %v", err)
	}
	resp, err := http.Get("http://" + in.httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz after the storm: %s", resp.Status)
	}
}
