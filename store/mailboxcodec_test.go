package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// TestMailboxRecord: the binary mailbox record gives back what was put in,
// and a record of the JSON form (stores written before it) still reads.
func TestMailboxRecord(t *testing.T) {
	for _, m := range []Mailbox{
		{},
		{ID: 7, Account: 3, Name: "INBOX", UIDValidity: 1700000000, UIDNext: 42, ModSeq: 99, Subscribed: true,
			Messages: 40, Unseen: 3, Deleted: 1, Size: 123456, Created: time.Unix(1700000000, 0).UTC()},
		{ID: 1 << 60, Account: 1 << 40, Name: "Ünïcode/Child", SpecialUse: `\Junk`, UIDValidity: ^uint32(0), UIDNext: ^UID(0),
			ModSeq: 1<<64 - 1, Messages: ^uint32(0), Size: -5, Created: time.Unix(-1, 0).UTC()},
	} {
		var got Mailbox
		if err := got.decode(m.encode()); err != nil || got != m {
			t.Errorf("round trip of %+v = %+v, %v", m, got, err)
		}
		j, _ := json.Marshal(m)
		got = Mailbox{}
		if err := got.decode(j); err != nil || got != m {
			t.Errorf("JSON record %s = %+v, %v", j, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {}, {2}, {mailboxRecordV1}, {mailboxRecordV1, 1, 1, 200}} {
		var m Mailbox
		if err := m.decode(bad); err == nil {
			t.Errorf("decode(%v) accepted", bad)
		}
	}
}

// TestHeaderDate: the fast path for the common Date form gives what
// net/mail gives, and every other form still goes to net/mail.
func TestHeaderDate(t *testing.T) {
	for _, v := range []string{
		"Mon, 02 Jan 2006 15:04:05 +0000",
		"Tue, 3 Feb 2026 08:09:10 -0500",
		"3 Feb 2026 08:09:10 +0100",
		"Tue, 3 Feb 2026 08:09 +0100",
		"Tue, 03 Feb 2026 08:09:10 +0100 (CET)",
		"Tue, 03 Feb 2026 08:09:10 GMT",
		"  Tue, 03 Feb 2026 08:09:10 +0100  ",
		"garbage",
		"",
	} {
		var h mail.Header
		h.Set("Date", v)
		want, _ := h.Date()
		if got := headerDate(h); !got.Equal(want) || got.Format(time.RFC3339) != want.Format(time.RFC3339) {
			t.Errorf("headerDate(%q) = %v, net/mail says %v", v, got, want)
		}
	}
}

// FuzzMailboxRecord: any bytes decode without a panic, and what decodes
// from the binary form encodes back to a record that decodes the same.
func FuzzMailboxRecord(f *testing.F) {
	f.Add((&Mailbox{ID: 7, Account: 3, Name: "INBOX", UIDNext: 42, ModSeq: 99, Subscribed: true}).encode())
	f.Add([]byte(`{"id":1,"name":"x"}`))
	f.Add([]byte{mailboxRecordV1, 1, 1, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Mailbox
		if err := m.decode(b); err != nil || len(b) == 0 || b[0] != mailboxRecordV1 {
			return
		}
		var again Mailbox
		if err := again.decode(m.encode()); err != nil || again != m {
			t.Fatalf("%+v encodes to a record that decodes to %+v, %v", m, again, err)
		}
	})
}
