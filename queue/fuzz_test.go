package queue

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeItem: a stored record that decodes is consistent and
// round-trips.
func FuzzDecodeItem(f *testing.F) {
	now := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	b, _ := encodeItem(&Item{ID: "x", From: "a@b", Arrived: now, Rcpts: []Rcpt{{Addr: "c@d", State: Pending, NextAttempt: now}}})
	f.Add(b)
	f.Add([]byte(`{"id":"y","rcpts":[{"addr":"a@b","state":"failed","reply":"550 no"}]}`))
	f.Add([]byte(`{"id":"z","rcpts":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := decodeItem(data)
		if err != nil {
			return
		}
		if it.ID == "" || len(it.Rcpts) == 0 {
			t.Fatalf("accepted an item without ID or recipients: %+v", it)
		}
		it.NextAttempt()
		it.done()
		b, err := encodeItem(it)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeItem(b)
		if err != nil || again.ID != it.ID || len(again.Rcpts) != len(it.Rcpts) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}

// FuzzMakeDSN: any original message gives a DSN whose header section is
// ours and whose rfc822-headers part holds no body line of the original.
func FuzzMakeDSN(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nsecret body\r\n"), "550 5.1.1 no\r\nsuch user")
	f.Add([]byte("no header at all"), "")
	f.Fuzz(func(t *testing.T, msg []byte, reply string) {
		it := &Item{ID: "q", From: "a@b.test", Arrived: time.Now()}
		dsn := makeDSN("petrel.test", it, msg, []Rcpt{{Addr: "c@d.test", State: Failed, LastReply: reply}}, actionFailed, time.Now())
		if !bytes.HasPrefix(dsn, []byte("From: Mail Delivery System")) {
			t.Fatalf("DSN starts %q", dsn[:min(40, len(dsn))])
		}
		if strings.Contains(oneLine(reply), "\n") {
			t.Fatal("oneLine left a newline")
		}
	})
}
