package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"petrel/internal/pgtest"
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
