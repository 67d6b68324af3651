package imap

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"petrel/store"
	"petrel/store/storetest"
)

// panicCatcher fails the fuzz run on a recovered session panic (which the
// session logs at Error and survives).
type panicCatcher struct{ panics atomic.Int32 }

func (h *panicCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (h *panicCatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.panics.Add(1)
	}
	return nil
}
func (h *panicCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicCatcher) WithGroup(string) slog.Handler      { return h }

// FuzzSession: arbitrary bytes as a whole client session, after no login,
// after LOGIN and after SELECT: the session never panics and ends soon
// after the client goes (no hang); commands are bounded (maxCommandSize),
// so memory is too.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"a CAPABILITY\r\nb NOOP\r\nc LOGOUT\r\n",
		"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.PEEK[1]<0.7>)\r\n",
		"a SEARCH RETURN (MIN MAX SAVE) OR (FROM x SINCE 1-Jan-2020) NOT $\r\n",
		"a APPEND INBOX (\\Seen) {5+}\r\nhello\r\nb UID STORE 1:* +FLAGS.SILENT (kw)\r\n",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" \"*\") RETURN (STATUS (MESSAGES SIZE))\r\n",
		"a CREATE \"foo\r\nb IDLE\r\nDONE\r\nc UID MOVE 1 INBOX\r\n",
		"a AUTHENTICATE PLAIN\r\nAHVzZXJAZXhhbXBsZS5vcmcAc2VjcmV0\r\nb ENABLE IMAP4rev2 UTF8=ACCEPT\r\n",
		"a SELECT \"&Jjo\"\r\nb STATUS INBOX (RECENT UNSEEN)\r\n{99999999999}\r\n",
		"a GETQUOTAROOT INBOX\r\nb GETQUOTA \"\"\r\nc SETQUOTA \"\" (STORAGE 1)\r\nd STATUS INBOX (DELETED-STORAGE)\r\n",
		"a UID SEARCH RETURN (UPDATE PARTIAL 1:9) SAVEDSINCE 1-Jan-2020\r\nb STORE 1 +FLAGS (\\Seen)\r\nc CANCELUPDATE \"a\"\r\n",
		"a FETCH 1 (SAVEDATE)\r\nb ENABLE UTF8=ACCEPT\r\nc CREATE \"A & B\"\r\n",
		"a NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge MailboxName))\r\nb CREATE x\r\nc NOTIFY NONE\r\n",
	} {
		f.Add([]byte(seed))
	}
	st := storetest.Open(f)
	acct := storetest.Account(f, st, "user@example.org")
	if _, err := st.Deliver(context.Background(), &store.Delivery{
		Body:    []byte("From: a@b\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\none\r\n--x--\r\n"),
		Targets: []store.Target{{Account: acct.ID}},
	}); err != nil {
		f.Fatal(err)
	}
	catcher := &panicCatcher{}
	srv := New(Options{Store: st, Logger: slog.New(catcher), AutoLogout: time.Minute})
	f.Cleanup(func() { srv.Close() })
	prefixes := []string{"", "p LOGIN user@example.org secret\r\n", "p LOGIN user@example.org secret\r\nq SELECT INBOX\r\n"}
	f.Fuzz(func(t *testing.T, input []byte) {
		for _, prefix := range prefixes {
			client, server := net.Pipe()
			done := make(chan struct{})
			go func() {
				srv.serveConn(server, true)
				close(done)
			}()
			go io.Copy(io.Discard, client)
			client.SetWriteDeadline(time.Now().Add(2 * time.Second))
			client.Write([]byte(prefix))
			client.Write(input)
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
	})
}
