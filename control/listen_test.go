package control

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// The control socket never exists with a mode wider than 0600, even under
// a umask of 000 in a 0755 data folder: a watcher that looks at it as
// often as it can, while it is made again and again, never sees it open to
// others. Bound first and restricted after, it was (nobody ran admin
// commands in 9 of 15 starts).
func TestControlSocketBornPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(dir, SocketName)
	var stop atomic.Bool
	var wide atomic.Int32
	var seen atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if fi, err := os.Lstat(path); err == nil {
				seen.Add(1)
				if fi.Mode().Perm()&0o077 != 0 {
					wide.Add(1)
				}
			}
		}
	})
	const starts = 300
	for range starts {
		l, err := Listen(path)
		if err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
		if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("after listenControl: %v, %v; want a socket, mode 0600", fi.Mode(), err)
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("dial the control socket: %v", err)
		}
		c.Close()
		l.Close()
		os.Remove(path)
	}
	stop.Store(true)
	wg.Wait()
	if n := wide.Load(); n > 0 {
		t.Errorf("the control socket was seen %d times (of %d looks) with a mode open to others", n, seen.Load())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
