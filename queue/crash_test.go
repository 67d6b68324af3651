package queue_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"petrel/dnsmx"
	"petrel/queue"
)

// TestCrashChild is the process TestSIGKILLDuringDelivery kills; it does
// nothing unless started by it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("PETREL_QUEUE_CRASH_PATH")
	if path == "" {
		t.Skip("helper process of TestSIGKILLDuringDelivery")
	}
	port, _ := strconv.Atoi(os.Getenv("PETREL_QUEUE_CRASH_PORT"))
	r, err := dnsmx.New(os.Getenv("PETREL_QUEUE_CRASH_DNS"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Options{Path: path, Hostname: "petrel.test", Resolver: r, Port: port, PerDomain: 2,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	q.Run(context.Background()) // until SIGKILL
}

// TestSIGKILLDuringDelivery kills a process in the middle of deliveries,
// then restarts the queue from its file: every recipient of every message
// gets it at least once (duplicates allowed, losses not).
func TestSIGKILLDuringDelivery(t *testing.T) {
	t.Parallel()
	port, lns := listenAll(t, "127.0.0.2")
	p := serve(t, &peer{hold: 150 * time.Millisecond}, lns[0])
	zone := remoteZone(t)
	path := filepath.Join(t.TempDir(), "queue.db")

	// Queue the messages without delivering, then hand the file to the child.
	r, err := dnsmx.New(zone.Addr)
	if err != nil {
		t.Fatal(err)
	}
	opts := queue.Options{Path: path, Hostname: "petrel.test", Resolver: r, Port: port,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	q, err := queue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	rcpts := []string{"a@remote.test", "b@remote.test", "c@remote.test"}
	for i := range n {
		msg := strings.Replace(testMsg, "Subject: queue test", fmt.Sprintf("Subject: crash %d", i), 1)
		if _, err := q.Enqueue(t.Context(), "alice@local.test", rcpts, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "PETREL_QUEUE_CRASH_PATH="+path, "PETREL_QUEUE_CRASH_DNS="+zone.Addr,
		"PETREL_QUEUE_CRASH_PORT="+strconv.Itoa(port))
	var stderr syncBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deliveries in flight", 20*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.got) >= 2 && p.active > 0
	})
	cmd.Process.Signal(syscall.SIGKILL)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", err, stderr.String())
	}
	before := len(p.txns())
	if before >= n {
		t.Fatalf("all %d messages were delivered before the kill; the test proves nothing", before)
	}

	// Restart from the same file, in this process.
	q, err = queue.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; q.Close() }()
	waitFor(t, "an empty queue", 20*time.Second, func() bool {
		items, err := q.List()
		return err == nil && len(items) == 0
	})
	got := map[string]int{}
	for _, tx := range p.txns() {
		subj := ""
		for _, l := range strings.Split(string(tx.Data), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subj = s
			}
		}
		for _, r := range tx.Rcpts {
			got[subj+" to "+r]++
		}
	}
	dups := 0
	for i := range n {
		for _, r := range rcpts {
			k := fmt.Sprintf("crash %d to %s", i, r)
			if got[k] == 0 {
				t.Errorf("lost: %s", k)
			}
			dups += max(got[k]-1, 0)
		}
	}
	t.Logf("killed after %d of %d messages; %d duplicate deliveries after restart", before, n, dups)
}
