package imap_test

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pimap "petrel/imap"
	"petrel/store"
	"petrel/store/storetest"
)

// When more passwords wait to be checked than the store takes, a login is
// told to try later with NO [UNAVAILABLE], not failed: 8 logins at once
// against a pool of one worker and no queue.
func TestLoginShedWhenHashingBusy(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mail.db"), store.Options{HashWorkers: 1, HashQueue: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvWithStore(t, st, storetest.Account(t, st, "user@example.org"), func(o *pimap.Options) {})
	const n = 8
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		conns[i], readers[i] = c, bufio.NewReader(c)
		readers[i].ReadString('\n') // greeting
	}
	replies := make([]string, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			conns[i].Write([]byte("a LOGIN user@example.org wrong\r\n"))
			for {
				l, err := readers[i].ReadString('\n')
				if err != nil || strings.HasPrefix(l, "a ") {
					replies[i] = strings.TrimSpace(l)
					return
				}
			}
		})
	}
	wg.Wait()
	shed := 0
	for _, r := range replies {
		switch {
		case strings.HasPrefix(r, "a NO [UNAVAILABLE]"):
			shed++
		case strings.HasPrefix(r, "a NO [AUTHENTICATIONFAILED]"):
		default:
			t.Errorf("reply %q", r)
		}
	}
	if shed == 0 {
		t.Errorf("no login of %d at once was told to try later: %q", n, replies)
	}
}
