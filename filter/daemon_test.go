package filter

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is an outside program a test started, stopped by its PID when
// the test ends.
type daemon struct {
	name string
	cmd  *exec.Cmd
	dead chan struct{}
}

// startDaemon runs path with args, its output kept for failure messages.
func startDaemon(t *testing.T, path string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: path, cmd: exec.Command(path, args...), dead: make(chan struct{})}
	w := &syncWriter{b: &strings.Builder{}}
	d.cmd.Stdout, d.cmd.Stderr = w, w
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() { d.cmd.Wait(); close(d.dead) }()
	t.Cleanup(func() { d.stop() })
	return d
}

// stop ends the daemon and its workers: rspamd and clamd fork, so the
// signal goes to the process group the daemon leads (by its PID).
func (d *daemon) stop() {
	if d.cmd.Process == nil {
		return
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.dead:
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.dead
	}
}

// waitListening waits until network/addr accepts connections, the daemon
// dies, or limit passes.
func (d *daemon) waitListening(t *testing.T, network, addr string, limit time.Duration, logs ...string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout(network, addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-d.dead:
			t.Fatalf("%s exited before listening on %s:\n%s%s", d.name, addr, d.output(), readLogs(logs))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %v:\n%s%s", d.name, addr, limit, d.output(), readLogs(logs))
		}
	}
}

func (d *daemon) output() string {
	if w, ok := d.cmd.Stdout.(*syncWriter); ok {
		return w.String()
	}
	return ""
}

func readLogs(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		data, _ := os.ReadFile(p)
		s := string(data)
		if len(s) > 4000 {
			s = s[len(s)-4000:]
		}
		b.WriteString("\n--- " + p + ":\n" + s)
	}
	return b.String()
}

// freePort returns a loopback TCP address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncWriter is a strings.Builder safe for a process's two output pipes.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
