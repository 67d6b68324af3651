package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// A result holds one scenario's measurements: for each system ("petrel",
// "peer") one map of metric -> value per round.
type result struct {
	name, peerName string
	n              int
	metrics        []string
	samples        map[string][]map[string]float64
	notes          []string
	more           []*result // further tables of the same scenario
}

const (
	mWall    = "wall s"
	mRate    = "msg/s"
	mCPU     = "server CPU ms/msg"
	mAccept  = "all accepted s"
	mDeliver = "all in mailbox s"
	mClient  = "client CPU s"
)

const settle = time.Second // CPU is read this long after the end, for trailing work

type runFunc func() (map[string]float64, error)

// A cpuMeter reads the CPU of the server processes before and after a
// run and logs which programs used it.
type cpuMeter struct {
	roots  []int
	before map[string]int64
}

func meter(roots ...int) *cpuMeter { return &cpuMeter{roots: roots, before: cpuByName(roots...)} }

// msPerMsg returns the server CPU per message since meter() and logs its
// split by program.
func (m *cpuMeter) msPerMsg(b *bench, n int) float64 {
	after := cpuByName(m.roots...)
	var d int64
	for k, v := range after {
		d += v - m.before[k]
	}
	b.logf("    CPU ms/msg by program: %s (load average %s)", cpuDelta(m.before, after, n), loadavg())
	return float64(d) * 10 / float64(n)
}

// alternate runs petrel and peer once per round, Petrel first in even
// rounds and the peer first in odd ones.
func (b *bench) alternate(r *result, petrel, peer runFunc) error {
	r.samples = map[string][]map[string]float64{}
	for i := 0; i < b.rounds; i++ {
		order := []string{"petrel", "peer"}
		if i%2 == 1 {
			order = []string{"peer", "petrel"}
		}
		for _, sys := range order {
			f := petrel
			if sys == "peer" {
				f = peer
			}
			if f == nil {
				continue
			}
			m, err := f()
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", i+1, sys, err)
			}
			name := "Petrel"
			if sys == "peer" {
				name = r.peerName
			}
			b.logf("%s round %d %-22s %s", r.name, i+1, name, fmtSample(r.metrics, m))
			r.samples[sys] = append(r.samples[sys], m)
		}
	}
	return nil
}

func fmtSample(metrics []string, m map[string]float64) string {
	var parts []string
	for _, k := range metrics {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.3g", k, v))
		}
	}
	return strings.Join(parts, "  ")
}

// ---------------------------------------------------------------- outbound

func (b *bench) outbound() (*result, error) {
	n := b.n["outbound"]
	r := &result{name: "outbound", peerName: "Postfix", n: n, metrics: []string{mWall, mRate, mCPU, mAccept, mClient}}
	sk, err := b.startSinks(20)
	if err != nil {
		return nil, err
	}
	defer sk.stop()
	p, err := b.startPetrel("outbound-petrel", petrelOpts{sub: true, queuePort: sk.port, users: map[string]string{"alice@bench.test": "bench-secret"}})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	var routes []string
	for i := 1; i <= 20; i++ {
		routes = append(routes, fmt.Sprintf("d%d.test=smtp:[127.0.1.%d]:%d", i, i, sk.port))
	}
	pf, err := b.startPostfix("outbound-postfix", "# 20 destinations, as the MX records Petrel resolves would give\ntransport_maps = inline:{ "+strings.Join(routes, ", ")+" }\n")
	if err != nil {
		return nil, err
	}
	defer pf.stop()

	one := func(addr string, auth bool, count int, roots ...int) (map[string]float64, error) {
		base := sk.count()
		args := []string{"-addr", addr, "-n", fmt.Sprint(count), "-sessions", "20", "-size", "4096", "-domains", "20", "-max-time", b.runTimeout.String()}
		if auth {
			args = append(args, "-from", "alice@bench.test", "-user", "alice@bench.test", "-pass", "bench-secret")
		} else {
			args = append(args, "-from", "alice@bench.test")
		}
		args = append(args, "-ready")
		cm, t0, out, ccpu, err := b.inject(args, roots)
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
		accepted := time.Since(t0).Seconds()
		var res struct{ Seconds float64 }
		if json.Unmarshal([]byte(out), &res) == nil && res.Seconds > 0 {
			accepted = res.Seconds // as the injector timed it, without its exit
		}
		if err := sk.waitCount(base+int64(count), b.runTimeout-time.Since(t0)); err != nil {
			return nil, err
		}
		wall := time.Since(t0).Seconds()
		time.Sleep(settle)
		if got := sk.count() - base; got != int64(count) {
			b.logf("outbound: sinks counted %d messages for %d sent", got, count)
		}
		return map[string]float64{mWall: wall, mRate: float64(count) / wall, mCPU: cm.msPerMsg(b, count), mAccept: accepted, mClient: ccpu}, nil
	}
	// Warm-up (not counted): processes started, pages cached, connections made.
	if _, err := one(p.sub, true, 200, p.p.pid()); err != nil {
		return nil, fmt.Errorf("petrel warm-up: %w\n%s", err, tail(p.log, 3000))
	}
	if _, err := one(pf.smtpd, false, 200, pf.p.pid()); err != nil {
		return nil, fmt.Errorf("postfix warm-up: %w\n%s", err, tail(pf.log, 3000))
	}
	err = b.alternate(r,
		func() (map[string]float64, error) { return one(p.sub, true, n, p.p.pid()) },
		func() (map[string]float64, error) { return one(pf.smtpd, false, n, pf.p.pid()) })
	if err != nil {
		return nil, fmt.Errorf("%w\npetrel log:\n%s\npostfix log:\n%s", err, tail(p.log, 2000), tail(pf.log, 2000))
	}
	r.notes = append(r.notes,
		fmt.Sprintf("outbound: %d messages of 4 KiB injected over 20 persistent SMTP sessions (bench/cmd/benchinject), to u<i>@d<1…20>.test, relayed to 20 smtp-sink processes on 127.0.1.1…20; wall = from the first MAIL FROM (the 20 sessions are connected and logged in before the clock and the CPU meter start) until the sinks counted all of them.", n),
		"outbound: Petrel gets them on submission with AUTH PLAIN (20 logins per run) and routes by MX through bench/cmd/benchdns; Postfix gets them on port 25 from mynetworks (no AUTH: it would need a SASL backend) and routes with transport_maps dN.test -> smtp:[127.0.1.N]:port (no DNS: Postfix would use the system resolver, which is not on loopback). Both keep 20 separate destinations at 20 connections each.")
	return r, nil
}

// inject runs benchinject -ready: once its sessions are connected (and
// logged in), it starts the CPU meter and the clock, and lets it send.
func (b *bench) inject(args []string, roots []int) (*cpuMeter, time.Time, string, float64, error) {
	logPath := filepath.Join(b.work, "benchinject.log")
	cmd := exec.Command(b.injectBin, args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, time.Time{}, "", 0, err
	}
	defer f.Close()
	cmd.Stderr = f
	p, err := start("benchinject", logPath, cmd)
	if err != nil {
		return nil, time.Time{}, "", 0, err
	}
	defer p.stop(time.Second)
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	select {
	case l := <-lines:
		if l != "ready" {
			<-p.done
			return nil, time.Time{}, l + tail(logPath, 1000), 0, fmt.Errorf("benchinject: %v", p.err)
		}
	case <-time.After(time.Minute):
		return nil, time.Time{}, tail(logPath, 1000), 0, fmt.Errorf("benchinject not ready after 1 minute")
	}
	cm := meter(roots...)
	t0 := time.Now()
	io.WriteString(stdin, "go\n")
	timeout := time.After(b.runTimeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				<-p.done
				if p.err != nil {
					return nil, t0, out.String() + tail(logPath, 1000), 0, fmt.Errorf("benchinject: %v", p.err)
				}
				return cm, t0, out.String(), clientCPU(cmd), nil
			}
			out.WriteString(l)
		case <-timeout:
			return nil, t0, out.String(), 0, fmt.Errorf("benchinject: timed out after %v", b.runTimeout)
		}
	}
}

// ---------------------------------------------------------------- pop3

// fourKiB is the 4 KiB message of pop3's own tests (pop3/memory_test.go).
func fourKiB(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: bob@example.net\r\nMessage-ID: <%d@test.example>\r\nSubject: %d\r\n\r\n", i, i)
	for b.Len() < 4096-80 {
		fmt.Fprintf(&b, "%s\r\n", strings.Repeat(".", 70))
	}
	return b.Bytes()
}

func (b *bench) pop3() (*result, error) {
	n := b.n["pop3"]
	r := &result{name: "pop3", peerName: "Dovecot", n: n, metrics: []string{mWall, mRate, mCPU, mClient}}
	src := filepath.Join(b.work, "pop3-src", "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	base := time.Now().Unix() - int64(n)
	var names []string
	for i := 0; i < n; i++ {
		m := fourKiB(i)
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d:2,", base+int64(i), i, len(m))
		if err := os.WriteFile(filepath.Join(src, "cur", name), m, 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	const usr, pass = "alice@bench.test", "bench-secret"
	d, err := b.startDovecot("pop3-dovecot", usr, pass, true, false)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	for _, name := range names {
		dst := filepath.Join(d.maildir, "cur", name)
		if err := copyFile(dst, filepath.Join(src, "cur", name)); err != nil {
			return nil, err
		}
		os.Chown(dst, 65534, 65534)
	}
	p, err := b.startPetrel("pop3-petrel", petrelOpts{pop: true, users: map[string]string{usr: pass}, importMaildir: map[string]string{usr: src}})
	if err != nil {
		return nil, err
	}
	defer p.stop()

	one := func(addr string, roots ...int) (map[string]float64, error) {
		host, port := addr[:strings.LastIndexByte(addr, ':')], portOf(addr)
		cm := meter(roots...)
		cmd := exec.Command(b.python, b.poplibScript, host, port, usr, pass)
		out, err := run("poplib", filepath.Join(b.work, "poplib.log"), b.runTimeout, cmd)
		if err != nil {
			return nil, fmt.Errorf("%v: %s\n%s", err, out, tail(filepath.Join(b.work, "poplib.log"), 2000))
		}
		time.Sleep(settle)
		var res struct {
			Messages int
			Octets   int64
			Seconds  float64
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, fmt.Errorf("poplib output %q: %w", out, err)
		}
		if res.Messages != n {
			return nil, fmt.Errorf("poplib retrieved %d messages, want %d", res.Messages, n)
		}
		return map[string]float64{mWall: res.Seconds, mRate: float64(n) / res.Seconds, mCPU: cm.msPerMsg(b, n), mClient: clientCPU(cmd)}, nil
	}
	// The first session builds Dovecot's index and marks everything seen in
	// both; it is logged, not counted.
	if m, err := one(d.pop, d.p.pid()); err != nil {
		return nil, fmt.Errorf("dovecot cold: %w\n%s", err, tail(d.log, 2000))
	} else {
		b.logf("pop3 cold  Dovecot  %s", fmtSample(r.metrics, m))
	}
	if m, err := one(p.pop, p.p.pid()); err != nil {
		return nil, fmt.Errorf("petrel cold: %w\n%s", err, tail(p.log, 2000))
	} else {
		b.logf("pop3 cold  Petrel   %s", fmtSample(r.metrics, m))
	}
	err = b.alternate(r,
		func() (map[string]float64, error) { return one(p.pop, p.p.pid()) },
		func() (map[string]float64, error) { return one(d.pop, d.p.pid()) })
	if err != nil {
		return nil, err
	}
	r.notes = append(r.notes, fmt.Sprintf("pop3: Python poplib (pop3/testdata/poplib_retr_all.py) RETRs each of %d messages of 4 KiB in one session; wall = connect to QUIT as the script times it. The same Maildir is imported into Petrel (`petrel import maildir`) and served by Dovecot; one cold session each is run first and not counted.", n))
	return r, nil
}

// ---------------------------------------------------------------- smtp-accept

func (b *bench) smtpAccept() (*result, error) {
	n := b.n["smtp-accept"]
	r := &result{name: "smtp-accept", peerName: "Postfix+Dovecot LMTP", n: n, metrics: []string{mWall, mRate, mCPU, mDeliver, mClient}}
	const usr = "bob@bench.test"
	p, err := b.startPetrel("accept-petrel", petrelOpts{smtp: true, users: map[string]string{usr: "bench-secret"}})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	d, err := b.startDovecot("accept-dovecot", usr, "bench-secret", false, true)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	pf, err := b.startPostfix("accept-postfix", fmt.Sprintf(`virtual_mailbox_domains = bench.test
virtual_mailbox_maps = inline:{ %s=ok }
virtual_transport = lmtp:inet:%s
`, usr, d.lmtp))
	if err != nil {
		return nil, err
	}
	defer pf.stop()

	countMaildir := func() int {
		a, _ := os.ReadDir(filepath.Join(d.maildir, "new"))
		c, _ := os.ReadDir(filepath.Join(d.maildir, "cur"))
		return len(a) + len(c)
	}
	one := func(addr string, count int, inMailbox func() int, roots ...int) (map[string]float64, error) {
		var base int
		if inMailbox != nil {
			base = inMailbox()
		}
		cm := meter(roots...)
		t0 := time.Now()
		logPath := filepath.Join(b.work, "smtp-source.log")
		cmd := exec.Command(b.smtpSource, "-s", "20", "-m", fmt.Sprint(count), "-l", "4096",
			"-M", "inject.bench", "-f", "sender@src.test", "-t", usr, addr)
		out, err := run("smtp-source", logPath, b.runTimeout, cmd)
		if err != nil {
			return nil, fmt.Errorf("%v: %s\n%s", err, out, tail(logPath, 2000))
		}
		wall := time.Since(t0).Seconds()
		delivered := wall
		if inMailbox != nil {
			deadline := t0.Add(b.runTimeout)
			for inMailbox()-base < count {
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("%d of %d messages in the Maildir after %v", inMailbox()-base, count, b.runTimeout)
				}
				time.Sleep(50 * time.Millisecond)
			}
			delivered = time.Since(t0).Seconds()
		}
		time.Sleep(settle)
		return map[string]float64{mWall: wall, mRate: float64(count) / wall, mCPU: cm.msPerMsg(b, count), mDeliver: delivered, mClient: clientCPU(cmd)}, nil
	}
	if _, err := one(p.smtp, 200, nil, p.p.pid()); err != nil {
		return nil, fmt.Errorf("petrel warm-up: %w\n%s", err, tail(p.log, 2000))
	}
	if _, err := one(pf.smtpd, 200, countMaildir, pf.p.pid(), d.p.pid()); err != nil {
		return nil, fmt.Errorf("postfix warm-up: %w\n%s\n%s", err, tail(pf.log, 2000), tail(d.log, 2000))
	}
	err = b.alternate(r,
		func() (map[string]float64, error) { return one(p.smtp, n, nil, p.p.pid()) },
		func() (map[string]float64, error) { return one(pf.smtpd, n, countMaildir, pf.p.pid(), d.p.pid()) })
	if err != nil {
		return nil, fmt.Errorf("%w\npostfix log:\n%s", err, tail(pf.log, 2000))
	}
	r.notes = append(r.notes, fmt.Sprintf("smtp-accept: `smtp-source -s 20 -m %d -l 4096` (one message per connection) to %s on port 25; wall = until smtp-source got the last 250. Petrel's 250 means the message is in the mailbox; Postfix's means it is in its queue, so \"%s\" also times until Dovecot's Maildir holds all of them, and the peer's CPU is Postfix's and Dovecot's processes together (read after that).", n, usr, mDeliver))
	return r, nil
}

// ---------------------------------------------------------------- ceiling

func (b *bench) ceiling() (*result, error) {
	n := b.n["ceiling"]
	r := &result{name: "ceiling", peerName: "smtp-sink (reference)", n: n, metrics: []string{mWall, mRate, mCPU, mClient}}
	sk, err := b.startSinks(1)
	if err != nil {
		return nil, err
	}
	defer sk.stop()
	addr := fmt.Sprintf("127.0.1.1:%d", sk.port)
	one := func() (map[string]float64, error) {
		cm := meter(sk.pids()...)
		t0 := time.Now()
		logPath := filepath.Join(b.work, "smtp-source.log")
		cmd := exec.Command(b.smtpSource, "-s", "20", "-m", fmt.Sprint(n), "-l", "4096",
			"-M", "inject.bench", "-f", "sender@src.test", "-t", "bob@bench.test", addr)
		if out, err := run("smtp-source", logPath, b.runTimeout, cmd); err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
		wall := time.Since(t0).Seconds()
		time.Sleep(settle)
		return map[string]float64{mWall: wall, mRate: float64(n) / wall, mCPU: cm.msPerMsg(b, n), mClient: clientCPU(cmd)}, nil
	}
	if err := b.alternate(r, nil, one); err != nil {
		return nil, err
	}
	r.notes = append(r.notes, "ceiling: the same smtp-source load against smtp-sink (which stores nothing): what the client and the loopback allow on this machine; its CPU column is smtp-sink's.")
	return r, nil
}
