package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"petrel/bench/mailgen"
	"petrel/internal/pgtest"
	"petrel/store"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times
// (100 on every Linux Petrel runs on).
const clockTicks = 100

// procCPU is the CPU time pid used (user and system), with that of its
// children that ended and were waited for when children is set.
func procCPU(pid int, children bool) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state(0) ppid(1) … utime(11) stime(12)
	// cutime(13) cstime(14).
	n := 0
	last := 12
	if children {
		last = 14
	}
	for i := 11; i <= last; i++ {
		v, _ := strconv.Atoi(f[i])
		n += v
	}
	return time.Duration(n) * time.Second / clockTicks
}

// postgresCPU is the CPU time of the PostgreSQL server at dsn's socket
// folder: the postmaster, the backends and helpers running now, and those
// that ended.
func postgresCPU(dsnDir string) time.Duration {
	b, err := os.ReadFile(filepath.Join(dsnDir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	total := procCPU(pm, true)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if ppid, _ := strconv.Atoi(f[1]); ppid == pm {
			total += procCPU(pid, false)
		}
	}
	return total
}

// BenchmarkScaleOut measures SMTP accept rate (20 clients, 2 KB messages,
// each client to its own mailbox, the clients spread over the nodes) and the CPU per message of the Petrel nodes plus
// PostgreSQL's own: one node on bbolt, one node on PostgreSQL, three
// nodes on one PostgreSQL. The last also measures how long after a 250 on
// node A an IDLE client on node C gets its EXISTS.
func BenchmarkScaleOut(b *testing.B) {
	const clients, perRun = 20, 600
	run := func(b *testing.B, nodes []*instance, pgDir string) {
		cpu := func() time.Duration {
			var t time.Duration
			for _, n := range nodes {
				t += procCPU(n.cmd.Process.Pid, false)
			}
			if pgDir != "" {
				t += postgresCPU(pgDir)
			}
			return t
		}
		var sent, failed atomic.Int64
		var total time.Duration
		cpu0 := cpu()
		for b.Loop() {
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			for g := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > perRun {
							return
						}
						if err := sendTo(nodes[g%len(nodes)].smtpAddr, benchRcpt(g), fmt.Sprintf("bench-%d-%d", g, i)); err != nil {
							failed.Add(1)
							continue
						}
						sent.Add(1)
					}
				}()
			}
			wg.Wait()
			total += time.Since(start)
		}
		if failed.Load() > 0 {
			b.Fatalf("%d messages refused", failed.Load())
		}
		used := cpu() - cpu0
		b.ReportMetric(float64(sent.Load())/total.Seconds(), "msgs/s")
		b.ReportMetric(float64(used.Microseconds())/1000/float64(sent.Load()), "cpu-ms/msg")
	}
	b.Run("bbolt-1node", func(b *testing.B) {
		in := newInstance(b)
		for g := range clients {
			in.petrel("pw\n", "user", "add", benchRcpt(g))
		}
		in.start()
		run(b, []*instance{in}, "")
	})
	pgBench := func(b *testing.B, n int) {
		srv := ownPostgres(b, pgtest.Options{Durable: true})
		dsn := srv.DSN(b)
		st, _ := pgAccount(b, dsn)
		for g := range clients {
			if _, err := st.CreateAccount(context.Background(), benchRcpt(g), "pw"); err != nil {
				b.Fatal(err)
			}
		}
		var nodes []*instance
		for range n {
			nodes = append(nodes, pgNode(b, dsn))
		}
		run(b, nodes, pgSocketDir(dsn))
		if n < 3 {
			return
		}
		// IDLE across nodes: 250 on A to EXISTS on C.
		onC := dialIdle(b, nodes[2].imapAddr)
		sel, err := onC.c.Select("INBOX", nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		idle, err := onC.c.Idle()
		if err != nil {
			b.Fatal(err)
		}
		defer idle.Close()
		have := sel.NumMessages
		var lat []time.Duration
		for i := range 200 {
			if err := sendOne(nodes[0].smtpAddr, fmt.Sprintf("idle-bench-%d", i)); err != nil {
				b.Fatal(err)
			}
			at := time.Now()
			have++
			onC.waitExists(b, have, 10*time.Second)
			lat = append(lat, time.Since(at))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "idle-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "idle-p99-ms")
	}
	b.Run("postgres-1node", func(b *testing.B) { pgBench(b, 1) })
	b.Run("postgres-3nodes", func(b *testing.B) { pgBench(b, 3) })
}

// benchRcpt is the mailbox client g sends to: one each, as mail to a
// host spreads over its users.
func benchRcpt(g int) string { return fmt.Sprintf("user%d@hamburger.edu", g) }

// pgSocketDir is the folder of a pgtest DSN's unix socket (its host).
func pgSocketDir(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return u.Query().Get("host")
}

// The IMAP workload of BenchmarkScaleOutIMAP: bench/run.sh's
// imap-concurrency scenario, scaled to a test run on a small machine.
const (
	imapBenchClients  = 48  // concurrent clients, one account each (as IMAP_ACCOUNTS = IMAP_CLIENTS)
	imapBenchMessages = 300 // the same INBOX in every account (the scenario's N_IMAP_CONCURRENCY, 1000, scaled down)
	imapBenchSeconds  = 10  // each measured run (the scenario's IMAP_SECONDS, 30, scaled down)
	imapBenchAppend   = 100 // messages the imaptest mix APPENDs from (as the scenario's)
)

// BenchmarkScaleOutIMAP runs bench/run.sh's imap-concurrency scenario
// (both its parts, with its own client, bench/cmd/benchimap) against one
// node on bbolt, one node on PostgreSQL and three nodes on one PostgreSQL
// (client i on node i mod 3), and reports commands per second (ops/s),
// the CPU per command of the Petrel nodes plus PostgreSQL's own
// (cpu-ms/op; pg-cpu-ms/op is PostgreSQL's part), the median and 99th
// percentile latency of a command and the commands that failed:
//
//   - conc-: every client logged in with INBOX selected loops UID FETCH
//     1:* (UID FLAGS), UID FETCH n BODY.PEEK[HEADER], UID FETCH n
//     BODY.PEEK[], UID STORE n +FLAGS then -FLAGS (\Flagged), NOOP;
//   - mix-: every client runs imaptest's default state mix, session after
//     session: LOGIN, LIST, STATUS, SELECT, FETCH, FETCH2, STORE, STORE
//     +FLAGS \Deleted, EXPUNGE, APPEND, LOGOUT, in a mailbox kept near 30
//     messages.
//
// The accounts and their INBOXes are made before the clock, through the
// store (as `petrel import maildir` does), with cheap password hashes:
// the setup's logins are not measured, and those of the mix find Petrel's
// cache of good logins filled, as in the scenario.
func BenchmarkScaleOutIMAP(b *testing.B) {
	bin := benchIMAPClient(b)
	// The scenario's mail: its accounts' INBOX (seed 2, no large
	// attachments) and the messages its mix APPENDs (seed 102).
	msgs, err := mailgen.WriteMaildir(b.TempDir(), 2, imapBenchMessages, 0)
	if err != nil {
		b.Fatal(err)
	}
	appendMd, err := mailgen.WriteMaildir(b.TempDir(), 102, imapBenchAppend, 0)
	if err != nil {
		b.Fatal(err)
	}
	appendDir := filepath.Join(appendMd.Dir, "cur")
	run := func(b *testing.B, nodes []*instance, pgDir string) {
		cpu := func() (petrel, pg time.Duration) {
			for _, n := range nodes {
				petrel += procCPU(n.cmd.Process.Pid, false)
			}
			if pgDir != "" {
				pg = postgresCPU(pgDir)
			}
			return petrel, pg
		}
		if la, err := os.ReadFile("/proc/loadavg"); err == nil {
			b.Logf("load average before: %s", strings.TrimSpace(string(la)))
		}
		var addrs []string
		for _, n := range nodes {
			addrs = append(addrs, n.imapAddr)
		}
		type sum struct {
			ops, errs int
			secs      float64
			cpu, pg   time.Duration
			p50, p99  float64
		}
		var conc, mix sum
		for b.Loop() {
			for _, x := range []struct {
				mode string
				s    *sum
			}{{"conc", &conc}, {"imaptest", &mix}} {
				r := runBenchIMAP(b, bin, x.mode, addrs, appendDir, cpu)
				x.s.ops += r.Ops
				x.s.errs += r.Errors
				x.s.secs += r.Seconds
				x.s.cpu += r.cpu
				x.s.pg += r.pgCPU
				x.s.p50, x.s.p99 = r.P50, r.P99
			}
		}
		for _, x := range []struct {
			name string
			s    sum
		}{{"conc", conc}, {"mix", mix}} {
			b.ReportMetric(float64(x.s.ops)/x.s.secs, x.name+"-ops/s")
			b.ReportMetric(float64((x.s.cpu+x.s.pg).Microseconds())/1000/float64(x.s.ops), x.name+"-cpu-ms/op")
			if pgDir != "" {
				b.ReportMetric(float64(x.s.pg.Microseconds())/1000/float64(x.s.ops), x.name+"-pg-cpu-ms/op")
			}
			b.ReportMetric(x.s.p50, x.name+"-p50-ms")
			b.ReportMetric(x.s.p99, x.name+"-p99-ms")
			b.ReportMetric(float64(x.s.errs), x.name+"-errors")
		}
	}
	b.Run("bbolt-1node", func(b *testing.B) {
		in := newInstanceWith(b, instanceOpts{imapAddr: freePort(b)})
		if err := os.MkdirAll(filepath.Join(in.dir, "data"), 0o700); err != nil {
			b.Fatal(err)
		}
		st, err := store.Open(filepath.Join(in.dir, "data", "mail.db"), store.Options{CheapPasswordHash: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		fillBenchAccounts(b, st, msgs)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		in.start()
		run(b, []*instance{in}, "")
	})
	pgBench := func(b *testing.B, n int) {
		srv := ownPostgres(b, pgtest.Options{Durable: true})
		dsn := srv.DSN(b)
		st, _ := pgAccount(b, dsn)
		fillBenchAccounts(b, st, msgs)
		var nodes []*instance
		for range n {
			nodes = append(nodes, pgNode(b, dsn))
		}
		run(b, nodes, pgSocketDir(dsn))
	}
	b.Run("postgres-1node", func(b *testing.B) { pgBench(b, 1) })
	b.Run("postgres-3nodes", func(b *testing.B) { pgBench(b, 3) })
}

// benchIMAPAccount is the account of client i (1-based), the template
// benchimap's -users is given.
const benchIMAPAccount = "u%03d@hamburger.edu"

// benchIMAPClient builds bench/cmd/benchimap, the IMAP client of bench/run.sh, beside the petrel binary.
func benchIMAPClient(b *testing.B) string {
	bin := filepath.Join(filepath.Dir(petrelBin), "benchimap")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if out, err := exec.Command("go", "build", "-o", bin, "petrel/bench/cmd/benchimap").CombinedOutput(); err != nil {
		b.Fatalf("build benchimap: %v\n%s", err, out)
	}
	return bin
}

// benchStore is what fillBenchAccounts needs of a store (bbolt's or
// PostgreSQL's).
type benchStore interface {
	CreateAccount(ctx context.Context, address, password string) (*store.Account, error)
	MailboxByName(acct uint64, name string) (*store.Mailbox, error)
	AppendMany(ctx context.Context, mbx store.MailboxID, items []store.AppendItem) ([]store.Delivered, error)
}

// fillBenchAccounts makes the imapBenchClients accounts (password "pw"),
// each with the same INBOX: the Maildir md, its flags and dates kept (as
// `petrel import maildir` would).
func fillBenchAccounts(b *testing.B, st benchStore, md *mailgen.Maildir) {
	ctx := context.Background()
	var items []store.AppendItem
	for _, name := range md.Names {
		p := filepath.Join(md.Dir, "cur", name)
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		it := store.AppendItem{Body: bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")), Date: fi.ModTime()}
		_, info, _ := strings.Cut(name, ":2,")
		for _, f := range []struct {
			letter rune
			flag   string
		}{{'S', "\\Seen"}, {'R', "\\Answered"}, {'F', "\\Flagged"}} {
			if strings.ContainsRune(info, f.letter) {
				it.Flags = append(it.Flags, f.flag)
			}
		}
		items = append(items, it)
	}
	for i := 1; i <= imapBenchClients; i++ {
		a, err := st.CreateAccount(ctx, fmt.Sprintf(benchIMAPAccount, i), "pw")
		if err != nil {
			b.Fatal(err)
		}
		inbox, err := st.MailboxByName(a.ID, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < len(items); k += 100 {
			if _, err := st.AppendMany(ctx, inbox.ID, items[k:min(k+100, len(items))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchIMAPResult is benchimap's answer to "go" (the fields used here),
// with the server CPU (nodes and PostgreSQL) used meanwhile.
type benchIMAPResult struct {
	Seconds    float64
	Ops        int
	Errors     int
	P50        float64       `json:"p50_ms"`
	P99        float64       `json:"p99_ms"`
	FirstError string        `json:"first_error"`
	cpu, pgCPU time.Duration // the nodes', PostgreSQL's
}

// runBenchIMAP runs benchimap in mode (conc or imaptest) against addrs:
// it logs the clients in (not measured), then measures imapBenchSeconds of
// the workload, reading the server CPU (cpu) around it. The clients come
// from 127.0.2.1… with at most 4 connections from one address: with more,
// the attempts in flight from one address reach the login limiter's
// lockout ([auth] lockout_failures, 10) while PostgreSQL answers, and the
// imaptest mix, which logs in at every session, is refused as a guessing
// crowd would be.
func runBenchIMAP(b *testing.B, bin, mode string, addrs []string, appendDir string, cpu func() (petrel, pg time.Duration)) benchIMAPResult {
	cmd := exec.Command(bin, "-addr", strings.Join(addrs, ","), "-users", benchIMAPAccount, "-accounts", fmt.Sprint(imapBenchClients),
		"-pass", "pw", "-clients", fmt.Sprint(imapBenchClients), "-login-parallel", "8", "-per-src", "4", "-seconds", fmt.Sprint(imapBenchSeconds), "-seed", "16",
		"-append-dir", appendDir, "-max-time", "5m", mode)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	out := bufio.NewScanner(outPipe)
	out.Buffer(nil, 1<<20)
	var ready struct{ Ready bool }
	if !out.Scan() || json.Unmarshal(out.Bytes(), &ready) != nil || !ready.Ready {
		b.Fatalf("benchimap %s: no ready: %q\n%s", mode, out.Text(), stderr.String())
	}
	cpu0, pg0 := cpu()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		b.Fatal(err)
	}
	var r benchIMAPResult
	if !out.Scan() || json.Unmarshal(out.Bytes(), &r) != nil {
		b.Fatalf("benchimap %s: no result: %q\n%s", mode, out.Text(), stderr.String())
	}
	cpu1, pg1 := cpu()
	r.cpu, r.pgCPU = cpu1-cpu0, pg1-pg0
	if r.Ops == 0 {
		b.Fatalf("benchimap %s: no command completed: %s\n%s", mode, r.FirstError, stderr.String())
	}
	if r.Errors > 0 {
		b.Logf("benchimap %s: %d of %d commands failed, the first: %s", mode, r.Errors, r.Ops+r.Errors, r.FirstError)
	}
	return r
}
