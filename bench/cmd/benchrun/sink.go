package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sinks are smtp-sink processes on 127.0.1.1 … 127.0.1.n, one port. Each
// runs with -c, which prints "sess=S quit=Q mesg=M" (separated by \r) as
// its counters change; the harness adds up the last mesg= of each.
type sinks struct {
	port   int
	procs  []*proc
	counts []atomic.Int64
}

func (b *bench) startSinks(n int) (*sinks, error) {
	s := &sinks{port: freePort("127.0.1.1"), counts: make([]atomic.Int64, n)}
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("127.0.1.%d:%d", i+1, s.port)
		cmd := exec.Command(b.smtpSink, "-u", "nobody", "-c", addr, "1000")
		cmd.Stdout = &counter{n: &s.counts[i]}
		cmd.Stderr = &counter{n: new(atomic.Int64)}
		p, err := start("smtp-sink "+addr, "", cmd)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
		if err := waitListen(p, addr, 10*time.Second, filepath.Join(b.work, "none")); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *sinks) count() int64 {
	var t int64
	for i := range s.counts {
		t += s.counts[i].Load()
	}
	return t
}

func (s *sinks) pids() []int {
	var ps []int
	for _, p := range s.procs {
		ps = append(ps, p.pid())
	}
	return ps
}

// waitCount waits until the sinks have received at least want messages.
func (s *sinks) waitCount(want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for s.count() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("sinks received %d messages, want %d, after %v", s.count(), want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (s *sinks) stop() {
	for _, p := range s.procs {
		p.stop(2 * time.Second)
	}
}

// counter parses smtp-sink -c output.
type counter struct {
	mu  sync.Mutex
	buf []byte
	n   *atomic.Int64
}

var mesgKey = []byte("mesg=")

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexAny(c.buf, "\r\n")
		if i < 0 {
			break
		}
		line := c.buf[:i]
		if j := bytes.Index(line, mesgKey); j >= 0 {
			f := line[j+len(mesgKey):]
			if k := bytes.IndexByte(f, ' '); k >= 0 {
				f = f[:k]
			}
			if v, err := strconv.ParseInt(string(f), 10, 64); err == nil && v > c.n.Load() {
				c.n.Store(v)
			}
		}
		c.buf = c.buf[i+1:]
	}
	if len(c.buf) > 1<<16 {
		c.buf = c.buf[len(c.buf)-1024:]
	}
	return len(p), nil
}
