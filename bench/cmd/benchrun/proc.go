package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A proc is a process the harness started, in its own process group, so
// that stopping it stops everything it started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

// start runs cmd in a new process group, its output appended to logPath
// (unless cmd.Stdout is already set), and remembers it for stopAll.
func start(name, logPath string, cmd *exec.Cmd) (*proc, error) {
	if stopping.Load() {
		return nil, fmt.Errorf("%s: not started: the harness is stopping", name)
	}
	// Its own group, so that stop reaches everything it forks; killed by
	// the kernel if the harness dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cmd.Stdout == nil {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	procsMu.Lock()
	procs = append(procs, p)
	writePgids()
	procsMu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then
// SIGKILLs the group.
func (p *proc) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGTERM) // the leader first: Postfix's master stops its children
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	// Children that outlive their leader are killed with the group.
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	procsMu.Lock()
	for i, q := range procs {
		if q == p {
			procs = append(procs[:i], procs[i+1:]...)
			break
		}
	}
	writePgids()
	procsMu.Unlock()
}

// pgidFile, if set (env BENCH_PGIDS, by run.sh), always lists the process
// groups running, so that run.sh can kill them if the harness is killed.
var pgidFile = os.Getenv("BENCH_PGIDS")

func writePgids() {
	if pgidFile == "" {
		return
	}
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "%d\n", p.cmd.Process.Pid)
	}
	os.WriteFile(pgidFile+".tmp", []byte(b.String()), 0o644)
	os.Rename(pgidFile+".tmp", pgidFile)
}

// stopAll stops every process still running, last started first.
func stopAll() {
	procsMu.Lock()
	ps := append([]*proc(nil), procs...)
	procsMu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop(5 * time.Second)
	}
}

// run runs a command to completion (bounded by timeout) in its own
// process group and returns its standard output; standard error goes to
// the log file.
func run(name, logPath string, timeout time.Duration, cmd *exec.Cmd) ([]byte, error) {
	var out strings.Builder
	cmd.Stdout = &out
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stderr = f
	p, err := start(name, logPath, cmd)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.stop(2 * time.Second)
		return []byte(out.String()), fmt.Errorf("%s: timed out after %v", name, timeout)
	}
	p.stop(time.Second) // forget it; kills stragglers in its group
	if p.err != nil {
		return []byte(out.String()), fmt.Errorf("%s: %w (log: %s)", name, p.err, logPath)
	}
	return []byte(out.String()), nil
}

// clientCPU is the CPU seconds (user+system) a finished command used.
func clientCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// waitListen waits until addr accepts TCP connections or p exits.
func waitListen(p *proc, addr string, timeout time.Duration, logPath string) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(logPath, 2000))
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %v\n%s", p.name, addr, timeout, tail(logPath, 2000))
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePort returns a TCP port free on ip now (and its UDP twin, for DNS).
func freePort(ip string) int {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp", fmt.Sprintf("%s:%d", ip, port)); err == nil {
			u.Close()
			return port
		}
	}
	fatalf("no free port on %s", ip)
	return 0
}

// cpuByName returns the CPU time, in clock ticks (1/100 s on Linux),
// used so far by the processes rooted at the given pids, per program name
// (the comm field: smtpd, lmtp…): each root, every process in its process
// group, and every descendant (by parent pid), each counted once, with
// utime+stime and cutime+cstime (the children it has already reaped:
// Postfix's master reaps smtpd, cleanup, smtp… as they exit, so their CPU
// stays in the sum, under "master").
func cpuByName(roots ...int) map[string]int64 {
	all := procStats()
	by := map[string]int64{}
	for pid := range procTreeOf(all, roots) {
		by[all[pid].comm] += all[pid].ticks
	}
	return by
}

// procStat is what the harness reads of a process in /proc/PID/stat.
type procStat struct {
	ppid, pgid int
	comm       string
	ticks      int64 // utime+stime+cutime+cstime
}

// procStats reads every process's stat.
func procStats() map[int]procStat {
	all := map[int]procStat{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		j := strings.IndexByte(s, '(')
		if i < 0 || j < 0 || j > i {
			continue
		}
		f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
		if len(f) < 15 {
			continue
		}
		num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
		all[pid] = procStat{ppid: int(num(4)), pgid: int(num(5)), comm: s[j+1 : i], ticks: num(14) + num(15) + num(16) + num(17)}
	}
	return all
}

// procTreeOf returns the processes of all rooted at roots: each root that
// still runs, every process in its process group, and every descendant
// (by parent pid).
func procTreeOf(all map[int]procStat, roots []int) map[int]bool {
	in := map[int]bool{}
	for _, r := range roots {
		if _, ok := all[r]; !ok {
			continue
		}
		in[r] = true
		for pid, s := range all {
			if s.pgid == r {
				in[pid] = true
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for pid, s := range all {
			if !in[pid] && in[s.ppid] {
				in[pid], changed = true, true
			}
		}
	}
	return in
}

// cpuDelta formats the CPU used per program between two cpuByName
// readings, largest first, in ms per message.
func cpuDelta(before, after map[string]int64, n int) string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			l = append(l, kv{k, d})
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var parts []string
	for i, e := range l {
		if i == 8 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, float64(e.v)*10/float64(n)))
	}
	return strings.Join(parts, ", ")
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// copyFile copies a regular file (used to lay the same Maildir twice).
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readFirstLine(path, prefix string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			if i := strings.IndexByte(l, ':'); i >= 0 {
				return strings.TrimSpace(l[i+1:]), nil
			}
		}
	}
	return "", nil
}
