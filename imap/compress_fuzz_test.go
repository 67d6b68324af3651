package imap

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

// FuzzCompressedSession: arbitrary bytes after COMPRESS DEFLATE, sent as
// they are (a corrupt or truncated stream) and deflated (arbitrary
// commands under compression), after LOGIN and after SELECT: the session
// never panics and ends soon after the client goes.
func FuzzCompressedSession(f *testing.F) {
	for _, seed := range []string{
		"a NOOP\r\nb FETCH 1:* (FLAGS BODY.PEEK[])\r\nc LOGOUT\r\n",
		"a IDLE\r\nDONE\r\nb COMPRESS DEFLATE\r\n",
		"a APPEND INBOX {5}\r\nhello\r\n",
		"\x00\x05\x00\xfa\xffa NOOP\r\n",
	} {
		f.Add([]byte(seed))
	}
	st := storetest.Open(f)
	acct := storetest.Account(f, st, "user@example.org")
	if _, err := st.Deliver(context.Background(), &store.Delivery{
		Body:    []byte("From: a@b\r\nSubject: s\r\n\r\nbody\r\n"),
		Targets: []store.Target{{Account: acct.ID}},
	}); err != nil {
		f.Fatal(err)
	}
	catcher := &panicCatcher{}
	srv := New(Options{Store: st, Logger: slog.New(catcher), AutoLogout: time.Minute})
	f.Cleanup(func() { srv.Close() })
	prefixes := []string{"p LOGIN user@example.org secret\r\nz COMPRESS DEFLATE\r\n", "p LOGIN user@example.org secret\r\nq SELECT INBOX\r\nz COMPRESS DEFLATE\r\n"}
	f.Fuzz(func(t *testing.T, input []byte) {
		var deflated bytes.Buffer
		zw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
		zw.Write(input)
		zw.Flush()
		for _, prefix := range prefixes {
			for _, body := range [][]byte{input, deflated.Bytes()} {
				client, server := net.Pipe()
				done := make(chan struct{})
				go func() {
					srv.serveConn(server, true)
					close(done)
				}()
				go io.Copy(io.Discard, client)
				client.SetWriteDeadline(time.Now().Add(2 * time.Second))
				client.Write([]byte(prefix))
				client.Write(body)
				client.Close()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatalf("session did not end after the client left (input %q)", input)
				}
				if n := catcher.panics.Load(); n > 0 {
					t.Fatalf("session panicked (input %q)", input)
				}
			}
		}
	})
}
