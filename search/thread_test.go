package search

import (
	"reflect"
	"testing"
	"time"

	"petrel/store"
)

// FillHeader, which reads only the header fields threading needs, sets
// what Fill sets from the parsed structure of the same message.
func TestFillHeaderMatchesFill(t *testing.T) {
	for _, tc := range []struct{ name, hdr string }{
		{"plain", "From: a@example.org\r\nSubject: Hello\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n"},
		{"reply by references", "Subject: Re: Hello\r\nMessage-ID: <2@example.org>\r\nIn-Reply-To: <1@example.org>\r\nReferences: <0@example.org>\r\n <1@example.org>\r\nDate: Tue, 1 Dec 2026 09:00:00 -0500\r\n"},
		{"reply by in-reply-to", "Subject: RE: [list] Fwd: Hello\r\nIn-Reply-To: <1@example.org> <9@example.org>\r\nMessage-ID: <3@example.org>\r\n"},
		{"two references fields", "References: <a@x>\r\nReferences: <b@x> <c@x>\r\nSubject: x\r\n"},
		{"encoded subject", "Subject: =?utf-8?q?R=C3=A9sum=C3=A9?= of the week\r\nMessage-Id: <4@example.org>\r\n"},
		{"folded subject, lower-case names", "subject: Re: a long\r\n\tsubject line\r\nmessage-id: <5@example.org>\r\ndate: 1 Dec 2026 09:00 +0100\r\n"},
		{"no date, no subject", "From: a@example.org\r\n"},
		{"bad date", "Date: yesterday\r\nSubject: when\r\n"},
		{"first of repeated fields", "Subject: one\r\nSubject: two\r\nMessage-ID: <6@x>\r\nMessage-ID: <7@x>\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.hdr + "\r\nbody\r\n")
			root := store.ParseStructure(msg)
			arrival := time.Unix(1e9, 0)
			want := Item{UID: 1, Date: arrival}
			want.Fill(&store.Content{Body: msg}, root, true)
			got := Item{UID: 1, Date: arrival}
			got.FillHeader(msg[:root.BodyStart], true)
			if !got.Date.Equal(want.Date) {
				t.Errorf("date %v, want %v", got.Date, want.Date)
			}
			got.Date, want.Date = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("FillHeader %+v\nFill       %+v", got, want)
			}
		})
	}
}
