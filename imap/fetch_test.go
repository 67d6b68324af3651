package imap_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"petrel/store"
)

var attachment = bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 40)

// nestedMsg has a multipart/alternative inside a multipart/mixed, a base64
// attachment and a message/rfc822 part (CRLF line ends).
func nestedMsg(att []byte) string {
	b64 := base64.StdEncoding.EncodeToString(att)
	var lines []string
	for len(b64) > 76 {
		lines = append(lines, b64[:76])
		b64 = b64[76:]
	}
	lines = append(lines, b64)
	return crlf(`From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>
To: user@example.org, Bob <bob@example.org>
Subject: =?utf-8?q?Caf=C3=A9_menu?=
Date: Tue, 03 Jan 2006 10:00:00 +0100
Message-ID: <nested@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is the preamble.
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 au lait, tr=C3=A8s bon
--inner
Content-Type: text/html; charset=utf-8

<p>Cafe</p>
--inner--
--outer
Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="data.bin"

` + strings.Join(lines, "\n") + `
--outer
Content-Type: message/rfc822

From: Bob <bob@example.org>
Subject: inner message
Content-Type: text/plain

inner body line
--outer--
`)
}

// cut returns the bytes of msg from the end of the first occurrence of
// after up to the start of the next occurrence of before.
func cut(t *testing.T, msg, after, before string) string {
	t.Helper()
	i := strings.Index(msg, after)
	if i < 0 {
		t.Fatalf("%q not in message", after)
	}
	rest := msg[i+len(after):]
	j := strings.Index(rest, before)
	if j < 0 {
		t.Fatalf("%q not after %q", before, after)
	}
	return rest[:j]
}

func TestPartialFetchExact(t *testing.T) {
	e := newEnv(t)
	msg := nestedMsg(attachment)
	uid := e.deliver(t, msg)
	c := e.client(t, nil)
	mustSelect(t, c, "INBOX")

	header := msg[:strings.Index(msg, "\r\n\r\n")+4]
	text := msg[len(header):]
	b64part := cut(t, msg, "filename=\"data.bin\"\r\n\r\n", "\r\n--outer")
	tests := []struct {
		name string
		sec  imap.FetchItemBodySection
		want string
	}{
		{"whole", imap.FetchItemBodySection{}, msg},
		{"partial whole", imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: 5, Size: 20}}, msg[5:25]},
		{"partial past end", imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: int64(len(msg)) + 3, Size: 20}}, ""},
		{"partial clipped", imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: int64(len(msg)) - 4, Size: 20}}, msg[len(msg)-4:]},
		{"HEADER", imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}, header},
		{"TEXT", imap.FetchItemBodySection{Specifier: imap.PartSpecifierText}, text},
		{"TEXT partial", imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 2, Size: 7}}, text[2:9]},
		{"HEADER.FIELDS", imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"subject", "FROM", "X-Absent"}},
			"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>\r\nSubject: =?utf-8?q?Caf=C3=A9_menu?=\r\n\r\n"},
		{"HEADER.FIELDS.NOT", imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"From", "To", "Subject", "Date", "Message-ID"}},
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"},
		{"1 (multipart/alternative)", imap.FetchItemBodySection{Part: []int{1}}, cut(t, msg, "boundary=\"inner\"\r\n\r\n", "\r\n--outer")},
		{"1.1", imap.FetchItemBodySection{Part: []int{1, 1}}, "Caf=C3=A9 au lait, tr=C3=A8s bon"},
		{"1.2", imap.FetchItemBodySection{Part: []int{1, 2}}, "<p>Cafe</p>"},
		{"1.2.MIME", imap.FetchItemBodySection{Part: []int{1, 2}, Specifier: imap.PartSpecifierMIME}, "Content-Type: text/html; charset=utf-8\r\n\r\n"},
		{"2.MIME", imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierMIME},
			"Content-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n"},
		{"2", imap.FetchItemBodySection{Part: []int{2}}, b64part},
		{"2 partial", imap.FetchItemBodySection{Part: []int{2}, Partial: &imap.SectionPartial{Offset: 10, Size: 30}}, b64part[10:40]},
		{"3 (message/rfc822)", imap.FetchItemBodySection{Part: []int{3}}, "From: Bob <bob@example.org>\r\nSubject: inner message\r\nContent-Type: text/plain\r\n\r\ninner body line"},
		{"3.HEADER", imap.FetchItemBodySection{Part: []int{3}, Specifier: imap.PartSpecifierHeader}, "From: Bob <bob@example.org>\r\nSubject: inner message\r\nContent-Type: text/plain\r\n\r\n"},
		{"3.HEADER.FIELDS", imap.FetchItemBodySection{Part: []int{3}, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}}, "Subject: inner message\r\n\r\n"},
		{"3.TEXT", imap.FetchItemBodySection{Part: []int{3}, Specifier: imap.PartSpecifierText}, "inner body line"},
		{"3.1", imap.FetchItemBodySection{Part: []int{3, 1}}, "inner body line"},
		{"missing part", imap.FetchItemBodySection{Part: []int{9}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sec := tc.sec
			sec.Peek = true
			msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{&sec}}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || len(msgs[0].BodySection) != 1 {
				t.Fatalf("got %d messages", len(msgs))
			}
			if got := string(msgs[0].BodySection[0].Bytes); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}

	t.Run("BINARY", func(t *testing.T) {
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
			BinarySection: []*imap.FetchItemBinarySection{
				{Part: []int{1, 1}, Peek: true},
				{Part: []int{2}, Peek: true},
			},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		bs := msgs[0].BinarySection
		if len(bs) != 2 {
			t.Fatalf("got %d binary sections", len(bs))
		}
		if string(bs[0].Bytes) != "Café au lait, très bon" {
			t.Errorf("BINARY[1.1] = %q", bs[0].Bytes)
		}
		if !bytes.Equal(bs[1].Bytes, attachment) {
			t.Errorf("BINARY[2] is %d bytes, want the %d-byte attachment", len(bs[1].Bytes), len(attachment))
		}
		// A partial BINARY is answered with its origin ("BINARY[2]<3>",
		// RFC 3516 4.2, as Dovecot does), which go-imap's client cannot
		// parse: checked on the wire.
		r := e.raw(t)
		r.login(t)
		r.cmd(t, "SELECT INBOX", "OK")
		out := r.cmd(t, fmt.Sprintf("UID FETCH %d BINARY.PEEK[2]<3.5>", uid), "OK")
		if want := "BINARY[2]<3> ~{5}\r\n" + string(attachment[3:8]) + ")"; !strings.Contains(out, want) {
			t.Errorf("BINARY[2]<3.5>: want %q in\n%q", want, out)
		}
		if sz := msgs[0].BinarySectionSize; len(sz) != 1 || sz[0].Size != uint32(len(attachment)) {
			t.Errorf("BINARY.SIZE[2] = %+v, want %d", sz, len(attachment))
		}
	})

	t.Run("ENVELOPE BODYSTRUCTURE RFC822.SIZE", func(t *testing.T) {
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
			Envelope: true, RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if m.RFC822Size != int64(len(msg)) {
			t.Errorf("RFC822.SIZE = %d, want %d", m.RFC822Size, len(msg))
		}
		env := m.Envelope
		if env.Subject != "Café menu" || len(env.From) != 1 || env.From[0].Name != "Jörg" || env.From[0].Addr() != "jorg@example.org" ||
			len(env.To) != 2 || env.MessageID != "nested@example.org" || env.Date.IsZero() {
			t.Errorf("envelope %+v", env)
		}
		mixed, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || mixed.Subtype != "mixed" || len(mixed.Children) != 3 {
			t.Fatalf("top body structure %#v", m.BodyStructure)
		}
		alt, ok := mixed.Children[0].(*imap.BodyStructureMultiPart)
		if !ok || alt.Subtype != "alternative" || len(alt.Children) != 2 {
			t.Fatalf("part 1 %#v", mixed.Children[0])
		}
		plain := alt.Children[0].(*imap.BodyStructureSinglePart)
		if plain.Type != "text" || plain.Subtype != "plain" || !strings.EqualFold(plain.Encoding, "quoted-printable") ||
			plain.Size != uint32(len("Caf=C3=A9 au lait, tr=C3=A8s bon")) || plain.Text == nil || plain.Text.NumLines != 1 || plain.Params["charset"] != "utf-8" {
			t.Errorf("part 1.1 %#v", plain)
		}
		att := mixed.Children[1].(*imap.BodyStructureSinglePart)
		if att.Type != "application" || att.Size != uint32(len(b64part)) || att.Extended == nil || att.Extended.Disposition == nil ||
			att.Extended.Disposition.Value != "attachment" || att.Extended.Disposition.Params["filename"] != "data.bin" {
			t.Errorf("part 2 %#v", att)
		}
		rfc := mixed.Children[2].(*imap.BodyStructureSinglePart)
		if rfc.MessageRFC822 == nil || rfc.MessageRFC822.Envelope.Subject != "inner message" {
			t.Fatalf("part 3 %#v", rfc)
		}
		if in, ok := rfc.MessageRFC822.BodyStructure.(*imap.BodyStructureSinglePart); !ok || in.Subtype != "plain" || in.Size != uint32(len("inner body line")) {
			t.Errorf("part 3 inner structure %#v", rfc.MessageRFC822.BodyStructure)
		}
	})
}

// TestPartialFetchReadsOnlyWhatItNeeds fetches the text of a message with
// a 20 MB attachment and checks the server copied far less than 20 MB.
func TestPartialFetchReadsOnlyWhatItNeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("20 MB message")
	}
	e := newEnv(t)
	big := bytes.Repeat([]byte{0xAB}, 20<<20)
	msg := nestedMsg(big)
	uid := e.deliver(t, msg)
	c := e.client(t, nil)
	mustSelect(t, c, "INBOX")
	fetch := func(c *imapclient.Client) []byte {
		sec := &imap.FetchItemBodySection{Part: []int{1, 1}, Peek: true}
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		return msgs[0].BodySection[0].Bytes
	}
	fetch(c) // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := fetch(c)
	runtime.ReadMemStats(&after)
	if string(got) != "Caf=C3=A9 au lait, tr=C3=A8s bon" {
		t.Fatalf("BODY[1.1] = %q", got)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("BODY.PEEK[1.1] of a %d-byte message allocated %d bytes (client and server)", len(msg), alloc)
	if alloc > 1<<20 {
		t.Errorf("fetching 33 bytes allocated %d bytes: the attachment was read", alloc)
	}
}

// A FETCH of whole-message sections alone reads only where the header ends
// (not the decoded structure); it answers byte for byte what the same
// sections fetched with ENVELOPE (which reads the structure) answer, for a
// message delivered with a per-recipient prefix.
func TestFetchTopSectionsWithoutStructure(t *testing.T) {
	e := newEnv(t)
	d, err := e.st.Deliver(context.Background(), &store.Delivery{
		Body:    []byte(nestedMsg(attachment)),
		Targets: []store.Target{{Account: e.acct.ID, Prefix: []byte("Return-Path: <jorg@example.org>\r\nDelivered-To: user@example.org\r\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, nil)
	mustSelect(t, c, "INBOX")
	secs := []*imap.FetchItemBodySection{
		{Peek: true},
		{Peek: true, Specifier: imap.PartSpecifierHeader},
		{Peek: true, Specifier: imap.PartSpecifierText},
		{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "Delivered-To"}},
		{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}},
		{Peek: true, Partial: &imap.SectionPartial{Offset: 20, Size: 50}},
	}
	fetch := func(withEnvelope bool) [][]byte {
		t.Helper()
		msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(d[0].UID)), &imap.FetchOptions{Envelope: withEnvelope, BodySection: secs}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("fetch: %v, %d messages", err, len(msgs))
		}
		var out [][]byte
		for _, s := range secs {
			out = append(out, msgs[0].FindBodySection(s))
		}
		return out
	}
	fast, full := fetch(false), fetch(true)
	for i := range secs {
		if !bytes.Equal(fast[i], full[i]) || len(full[i]) == 0 {
			t.Errorf("section %d: without the structure %q\nwith it %q", i, fast[i], full[i])
		}
	}
	if !bytes.HasPrefix(fast[0], []byte("Return-Path: <jorg@")) || !bytes.HasSuffix(fast[1], []byte("\r\n\r\n")) || !bytes.HasPrefix(fast[2], []byte("This is the preamble.")) {
		t.Errorf("BODY[] %q…, HEADER …%q, TEXT %q…", fast[0][:30], fast[1][len(fast[1])-10:], fast[2][:30])
	}
}

// A message expunged by another session but still known to this one gets
// no FETCH reply, whether the FETCH reads its metadata (FLAGS) or only
// its content (UID BODY.PEEK[], which reads no metadata); the others do.
func TestFetchSkipsExpungedMeanwhile(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver(t, simpleMsg(fmt.Sprint("message ", i), "body"))
	}
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "SELECT INBOX", "OK")
	if _, err := e.st.Expunge(context.Background(), e.inbox(t), []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	for _, items := range []string{"(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])", "(UID BODY.PEEK[])"} {
		out := r.cmd(t, "FETCH 1:3 "+items, "OK")
		for _, want := range []string{"* 1 FETCH (UID 1 ", "* 3 FETCH (UID 3 "} {
			if !strings.Contains(out, want) {
				t.Errorf("FETCH %s: no %q in\n%s", items, want, out)
			}
		}
		if strings.Contains(out, "* 2 FETCH") || strings.Contains(out, "message 2") {
			t.Errorf("FETCH %s replied for the expunged message:\n%s", items, out)
		}
	}
}
