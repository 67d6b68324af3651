package imap

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

// TestNotifyOverflow: a session that cannot keep up (its client does not
// read) while METADATA changes pile up gets NOTIFICATIONOVERFLOW and
// NOTIFY is off; nothing grows without bound.
func TestNotifyOverflow(t *testing.T) {
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "user@example.org")
	srv := New(Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { srv.Close() })
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	go srv.serveConn(server, true)
	br := bufio.NewReader(client)
	var lines, last string
	n := 0
	until := func(prefix string) string {
		t.Helper()
		for {
			client.SetReadDeadline(time.Now().Add(10 * time.Second))
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v after %d lines, last %q; first %q", err, n, last, lines)
			}
			n++
			last = l
			if n < 4 {
				lines += l
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	until("* OK")
	io.WriteString(client, "a LOGIN user@example.org secret\r\nb NOTIFY SET (PERSONAL (ServerMetadataChange))\r\n")
	until("b OK")
	// The client reads nothing now: the session's first report (of however
	// many changes came before it ran) blocks on the pipe while the rest
	// pile up; twice the bound overflows whenever that report ran.
	for i := 0; i < 2*maxMetaPending+1; i++ {
		srv.metadataChanged(acct.ID, "", []store.MetadataEntry{{Name: "/private/x"}})
	}
	until("* OK [NOTIFICATIONOVERFLOW]")
	srv.mu.Lock()
	left := len(srv.notifiers[acct.ID])
	srv.mu.Unlock()
	if left != 0 {
		t.Errorf("%d notifiers left after the overflow, want 0", left)
	}
	io.WriteString(client, "c NOOP\r\n")
	if l := until("c "); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("after the overflow: %q", l)
	}
}
