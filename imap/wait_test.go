package imap_test

import (
	"strings"
	"testing"
	"time"
)

// TestWaitInput: what a session waiting in IDLE (or under NOTIFY) reads
// first goes to the command after it however it is cut: DONE in pieces,
// DONE with commands after it in the same segment, a command longer than
// the waiting read (64 octets), and a wrong word (BAD, the session goes
// on); updates that came during the wait are written first.
func TestWaitInput(t *testing.T) {
	long := "FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT FROM TO CC DATE MESSAGE-ID)])"
	for _, tc := range []struct {
		name   string
		notify bool
		pieces []string // sent one by one, 20 ms apart, after the update
		want   []string // the tagged replies that follow, in order
	}{
		{"done split", false, []string{"DO", "NE\r\n"}, []string{"i OK"}},
		{"done then commands", false, []string{"DONE\r\na NOOP\r\nb " + long + "\r\n"}, []string{"i OK", "a OK", "b OK"}},
		{"long command after done", false, []string{"DONE\r\n", "b " + long + "\r\n"}, []string{"i OK", "b OK"}},
		{"not done", false, []string{"STOP\r\n", "a NOOP\r\n"}, []string{"i BAD", "a OK"}},
		{"notify: long command", true, []string{"b " + long[:30], long[30:] + "\r\n"}, []string{"b OK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.deliver(t, simpleMsg("first", "b"))
			r := e.raw(t)
			r.login(t)
			r.cmd(t, "SELECT INBOX", "OK")
			if tc.notify {
				r.cmd(t, "NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge))", "OK")
			} else {
				r.send(t, "i IDLE")
				if l := r.line(t); !strings.HasPrefix(l, "+ ") {
					t.Fatalf("IDLE: %q", l)
				}
			}
			e.deliver(t, simpleMsg("second", "b"))
			if l := r.line(t); l != "* 2 EXISTS\r\n" {
				t.Fatalf("got %q, want * 2 EXISTS", l)
			}
			for _, p := range tc.pieces {
				r.c.Write([]byte(p))
				time.Sleep(20 * time.Millisecond) // so that the server reads them apart (nothing is awaited)
			}
			for _, w := range tc.want {
				tag, status, _ := strings.Cut(w, " ")
				r.until(t, tag, status)
			}
			r.cmd(t, "NOOP", "OK") // and the session goes on
		})
	}
}
