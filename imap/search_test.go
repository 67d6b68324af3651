package imap_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
)

func TestSearch(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d.Add(12 * time.Hour)
	}
	msgs := []struct {
		date  string
		flags []imap.Flag
		body  string
	}{
		{"2024-01-10", nil, `From: Alice <alice@example.org>
To: user@example.org
Cc: Carol <carol@example.org>
Subject: =?iso-8859-1?q?R=E9sum=E9_attached?=
Date: Wed, 10 Jan 2024 09:00:00 +0000
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Un caf=E9 cr=E8me, s'il vous pla=EEt.
`},
		{"2024-02-20", []imap.Flag{imap.FlagSeen}, `From: Bob <bob@example.net>
To: user@example.org
Bcc: hidden@example.org
Subject: Greetings
Date: Tue, 20 Feb 2024 09:00:00 +0000
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

R3LDvMOfZSBhdXMgS8O2bG4h
`},
		{"2024-03-30", []imap.Flag{imap.FlagFlagged, "$Custom"}, `From: Alice <alice@example.org>
To: team@example.org
Subject: Meeting tomorrow
Date: Sat, 30 Mar 2024 23:30:00 -0500
X-Priority: 1

The agenda is attached. ` + string(make([]byte, 0)) + `Padding padding padding padding padding padding padding padding.
`},
		{"2024-04-01", []imap.Flag{imap.FlagSeen, imap.FlagDeleted}, `From: Dave <dave@example.com>
To: user@example.org
Subject: html only
Date: Mon, 01 Apr 2024 09:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain

plain version
--b
Content-Type: text/html

<b>secretword</b>
--b--
`},
	}
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, appendMsg(t, c, "INBOX", m.body, &imap.AppendOptions{Flags: m.flags, Time: day(m.date)}))
	}
	mustSelect(t, c, "INBOX")
	u := func(i ...int) []imap.UID {
		var out []imap.UID
		for _, k := range i {
			out = append(out, uids[k])
		}
		return out
	}
	size := func(i int) int64 { return int64(len(crlf(msgs[i].body))) }
	bySize := func(keep func(int64) bool) []imap.UID {
		var out []imap.UID
		for i := range msgs {
			if keep(size(i)) {
				out = append(out, uids[i])
			}
		}
		return out
	}
	hdr := func(k, v string) []imap.SearchCriteriaHeaderField {
		return []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}
	}
	tests := []struct {
		name string
		c    imap.SearchCriteria
		want []imap.UID
	}{
		{"ALL", imap.SearchCriteria{}, u(0, 1, 2, 3)},
		{"SUBJECT encoded-word, case-insensitive", imap.SearchCriteria{Header: hdr("Subject", "RÉSUMÉ")}, u(0)},
		{"BODY quoted-printable latin1", imap.SearchCriteria{Body: []string{"CAFÉ CRÈME"}}, u(0)},
		{"BODY raw QP not matched", imap.SearchCriteria{Body: []string{"caf=E9"}}, nil},
		{"BODY base64 utf-8", imap.SearchCriteria{Body: []string{"grüße aus köln"}}, u(1)},
		{"BODY html alternative", imap.SearchCriteria{Body: []string{"secretword"}}, u(3)},
		{"BODY not in header", imap.SearchCriteria{Body: []string{"Meeting"}}, nil},
		{"TEXT header", imap.SearchCriteria{Text: []string{"meeting"}}, u(2)},
		{"TEXT body", imap.SearchCriteria{Text: []string{"agenda"}}, u(2)},
		{"FROM", imap.SearchCriteria{Header: hdr("From", "ALICE@")}, u(0, 2)},
		{"FROM display name", imap.SearchCriteria{Header: hdr("From", "bob")}, u(1)},
		{"TO", imap.SearchCriteria{Header: hdr("To", "team@")}, u(2)},
		{"CC", imap.SearchCriteria{Header: hdr("Cc", "carol")}, u(0)},
		{"BCC", imap.SearchCriteria{Header: hdr("Bcc", "hidden")}, u(1)},
		{"HEADER present", imap.SearchCriteria{Header: hdr("X-Priority", "")}, u(2)},
		{"HEADER value", imap.SearchCriteria{Header: hdr("x-priority", "1")}, u(2)},
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, u(1, 3)},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, u(0, 2)},
		{"FLAGGED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, u(2)},
		{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, u(3)},
		{"KEYWORD", imap.SearchCriteria{Flag: []imap.Flag{"$custom"}}, u(2)},
		{"UNKEYWORD", imap.SearchCriteria{NotFlag: []imap.Flag{"$Custom"}}, u(0, 1, 3)},
		{"SINCE", imap.SearchCriteria{Since: day("2024-03-30")}, u(2, 3)},
		{"BEFORE", imap.SearchCriteria{Before: day("2024-02-20")}, u(0)},
		{"ON", imap.SearchCriteria{Since: day("2024-02-20"), Before: day("2024-02-21")}, u(1)},
		{"SENTSINCE", imap.SearchCriteria{SentSince: day("2024-03-30")}, u(2, 3)},
		{"SENTBEFORE", imap.SearchCriteria{SentBefore: day("2024-01-11")}, u(0)},
		{"LARGER", imap.SearchCriteria{Larger: size(1)}, bySize(func(n int64) bool { return n > size(1) })},
		{"SMALLER", imap.SearchCriteria{Smaller: size(2)}, bySize(func(n int64) bool { return n < size(2) })},
		{"UID set", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(uids[1], uids[3])}}, u(1, 3)},
		{"UID star", imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 0, Stop: 0}}}}, u(3)},
		{"seq range", imap.SearchCriteria{SeqNum: []imap.SeqSet{{imap.SeqRange{Start: 2, Stop: 3}}}}, u(1, 2)},
		{"seq star", imap.SearchCriteria{SeqNum: []imap.SeqSet{{imap.SeqRange{Start: 3, Stop: 0}}}}, u(2, 3)},
		{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Header: hdr("Subject", "greetings")}}}}, u(1, 2)},
		{"NOT", imap.SearchCriteria{Not: []imap.SearchCriteria{{Header: hdr("From", "alice")}}}, u(1, 3)},
		{"nested NOT OR AND", imap.SearchCriteria{
			NotFlag: []imap.Flag{imap.FlagDeleted},
			Not: []imap.SearchCriteria{{Or: [][2]imap.SearchCriteria{{
				{Body: []string{"agenda"}},
				{Flag: []imap.Flag{imap.FlagSeen}},
			}}}},
		}, u(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crit := tc.c
			data, err := c.UIDSearch(&crit, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got := data.AllUIDs(); !slices.Equal(got, tc.want) {
				t.Errorf("UID SEARCH got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("ESEARCH MIN MAX COUNT", func(t *testing.T) {
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: hdr("To", "user@")}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.Min != uint32(uids[0]) || data.Max != uint32(uids[3]) || data.Count != 3 {
			t.Errorf("ESEARCH min %d max %d count %d, want %d %d 3", data.Min, data.Max, data.Count, uids[0], uids[3])
		}
	})
	t.Run("raw: CHARSET UTF-8, ESEARCH, SEARCHRES", func(t *testing.T) {
		r := e.raw(t)
		r.login(t)
		r.cmd(t, "SELECT INBOX", "OK")
		lit := "grüße"
		r.send(t, fmt.Sprintf("a1 SEARCH CHARSET UTF-8 BODY {%d+}\r\n%s", len(lit), lit))
		if out := r.until(t, "a1", "OK"); !strings.Contains(out, "* SEARCH 2\r\n") {
			t.Errorf("SEARCH CHARSET UTF-8 BODY grüße:\n%s", out)
		}
		out := r.cmd(t, "UID SEARCH RETURN (MIN MAX COUNT ALL) FROM alice", "OK")
		for _, want := range []string{"* ESEARCH (TAG \"t3\") UID ", fmt.Sprintf(" ALL %d,%d", uids[0], uids[2]),
			fmt.Sprintf(" MIN %d", uids[0]), fmt.Sprintf(" MAX %d", uids[2]), " COUNT 2"} {
			if !strings.Contains(out, want) {
				t.Errorf("ESEARCH lacks %q:\n%s", want, out)
			}
		}
		r.cmd(t, "SEARCH RETURN (SAVE) SEEN", "OK")
		if out := r.cmd(t, "FETCH $ (UID)", "OK"); !strings.Contains(out, fmt.Sprintf("* 2 FETCH (UID %d)", uids[1])) || !strings.Contains(out, fmt.Sprintf("* 4 FETCH (UID %d)", uids[3])) || strings.Count(out, "FETCH (") != 2 {
			t.Errorf("FETCH $ after SEARCH RETURN (SAVE) SEEN:\n%s", out)
		}
		if out := r.cmd(t, "SEARCH $ FLAGGED", "OK"); !strings.Contains(out, "* SEARCH\r\n") {
			t.Errorf("SEARCH $ FLAGGED (none):\n%s", out)
		}
	})
}

// TestSearchKeys: the flag keys (ANSWERED, DRAFT and their UN- forms),
// the \Recent keys (NEW, OLD, RECENT: Petrel keeps no \Recent, so no
// message is recent), and the sent-date keys, which compare the Date:
// header's own date, disregarding time and timezone (RFC 9051 6.4.4), or
// the internal date if there is no Date: header.
func TestSearchKeys(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d.Add(12 * time.Hour)
	}
	msg := func(subject, date string) string {
		if date != "" {
			date = "Date: " + date + "\n"
		}
		return "From: a@example.org\nSubject: " + subject + "\n" + date + "\nbody\n"
	}
	appendMsg(t, c, "INBOX", msg("1", "Sat, 30 Mar 2024 23:30:00 -0500"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagAnswered}, Time: day("2024-04-05")})
	appendMsg(t, c, "INBOX", msg("2", "Mon, 01 Apr 2024 00:30:00 +0200"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, imap.FlagSeen}, Time: day("2024-04-05")})
	appendMsg(t, c, "INBOX", msg("3", "Sun, 31 Mar 2024 12:00:00 +0000"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered}, Time: day("2024-04-05")})
	appendMsg(t, c, "INBOX", msg("4", ""), &imap.AppendOptions{Time: day("2024-03-29")})
	r := e.raw(t)
	r.login(t)
	m5 := crlf(msg("5", "Tue, 02 Apr 2024 08:00:00 +0000"))
	r.send(t, fmt.Sprintf("a1 APPEND INBOX (\\Recent) {%d+}\r\n%s", len(m5), m5)) // \Recent cannot be set
	r.until(t, "a1", "OK")
	r.cmd(t, "SELECT INBOX", "OK")

	tests := []struct{ key, want string }{
		{"ANSWERED", "1 3"},
		{"UNANSWERED", "2 4 5"},
		{"DRAFT", "2"},
		{"UNDRAFT", "1 3 4 5"},
		// Recent to this session, the first to see it: 5, which arrived
		// since the server started (1-4 are APPENDed with older dates).
		{"RECENT", "5"},
		{"NEW", "5"},
		{"OLD", "1 2 3 4"},
		{"NOT OLD", "5"},
		{"SENTON 30-Mar-2024", "1"}, // 31 Mar in UTC
		{"SENTON 31-Mar-2024", "3"},
		{"SENTON 1-Apr-2024", "2"},  // 31 Mar in UTC
		{"SENTON 29-Mar-2024", "4"}, // no Date: the internal date
		{"SENTBEFORE 31-Mar-2024", "1 4"},
		{"SENTSINCE 1-Apr-2024", "2 5"},
		{"SENTSINCE 31-Mar-2024 SENTBEFORE 1-Apr-2024", "3"},
		{"NOT SENTON 31-Mar-2024", "1 2 4 5"},
		{"OR DRAFT SENTON 29-Mar-2024", "2 4"},
		{"ANSWERED SENTSINCE 31-Mar-2024", "3"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			want := "* SEARCH\r\n"
			if tc.want != "" {
				want = "* SEARCH " + tc.want + "\r\n"
			}
			if out := r.cmd(t, "SEARCH "+tc.key, "OK"); !strings.Contains(out, want) {
				t.Errorf("SEARCH %s: got\n%s\nwant %q", tc.key, out, want)
			}
		})
	}
}

// TestSearchSaveMinMax: RFC 5182 2.4. SAVE with MIN and/or MAX but neither
// ALL nor COUNT saves only the messages MIN/MAX return; with ALL or COUNT
// it saves every match.
func TestSearchSaveMinMax(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 5; i++ {
		e.deliver(t, simpleMsg(fmt.Sprintf("m%d", i), "x"))
	}
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "SELECT INBOX", "OK")
	r.cmd(t, "STORE 1,3 +FLAGS.SILENT (\\Seen)", "OK") // unseen: 2 4 5
	tests := []struct{ search, saved string }{
		{"SEARCH RETURN (SAVE MIN) UNSEEN", "2"},
		{"SEARCH RETURN (SAVE MAX) UNSEEN", "5"},
		{"SEARCH RETURN (SAVE MIN MAX) UNSEEN", "2 5"},
		{"SEARCH RETURN (SAVE MIN COUNT) UNSEEN", "2 4 5"},
		{"SEARCH RETURN (SAVE MAX ALL) UNSEEN", "2 4 5"},
		{"SEARCH RETURN (SAVE) UNSEEN", "2 4 5"},
		{"UID SEARCH RETURN (SAVE MAX) UNSEEN", "5"},
		{"UID SEARCH RETURN (SAVE MIN) UID 3:*", "3"},
		{"SEARCH RETURN (SAVE MIN MAX) SUBJECT m4", "4"},
		{"SEARCH RETURN (SAVE MIN) SUBJECT nothing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.search, func(t *testing.T) {
			r.cmd(t, tc.search, "OK")
			want := "* SEARCH\r\n"
			if tc.saved != "" {
				want = "* SEARCH " + tc.saved + "\r\n"
			}
			if out := r.cmd(t, "SEARCH $", "OK"); !strings.Contains(out, want) {
				t.Errorf("after %s, $ is\n%s\nwant %q", tc.search, out, want)
			}
		})
	}
	// MIN and MAX are still reported as they were.
	if out := r.cmd(t, "SEARCH RETURN (SAVE MIN MAX) UNSEEN", "OK"); !strings.Contains(out, " MIN 2 MAX 5\r\n") {
		t.Errorf("ESEARCH with SAVE MIN MAX:\n%s", out)
	}
}

// SEARCH by From, To, Cc, Bcc or Subject is answered from the mailbox's
// cache of those fields from the second time on: the answers are the same
// as from the messages themselves (a BODY "" key forces those to be read),
// an expunged message is no longer found and a new one is.
func TestSearchHeaderCache(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	bodies := []string{
		"From: Alice <alice@example.org>\nTo: user@example.org\nTo: Team <team@example.org>\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?=\n\nx\n",
		"From: Bob <bob@example.net>\nCc: Carol <carol@example.org>\nBcc: hidden@example.org\nSubject: Greetings\n\ny\n",
		"From: =?iso-8859-1?q?Andr=E9?= <andre@example.com>\nSubject:\n\nz\n",
	}
	for _, b := range bodies {
		appendMsg(t, c, "INBOX", b, nil)
	}
	mustSelect(t, c, "INBOX")
	hdr := func(k, v string) imap.SearchCriteriaHeaderField {
		return imap.SearchCriteriaHeaderField{Key: k, Value: v}
	}
	queries := map[string]imap.SearchCriteria{
		"FROM alice":          {Header: []imap.SearchCriteriaHeaderField{hdr("From", "ALICE")}},
		"FROM andré":          {Header: []imap.SearchCriteriaHeaderField{hdr("From", "andré")}},
		"TO team":             {Header: []imap.SearchCriteriaHeaderField{hdr("To", "team@")}},
		"SUBJECT résumé":      {Header: []imap.SearchCriteriaHeaderField{hdr("Subject", "RÉSUMÉ")}},
		"HEADER CC \"\"":      {Header: []imap.SearchCriteriaHeaderField{hdr("Cc", "")}},
		"HEADER SUBJECT \"\"": {Header: []imap.SearchCriteriaHeaderField{hdr("Subject", "")}},
		"BCC hidden":          {Header: []imap.SearchCriteriaHeaderField{hdr("Bcc", "hidden")}},
		"NOT FROM example":    {Not: []imap.SearchCriteria{{Header: []imap.SearchCriteriaHeaderField{hdr("From", "example")}}}},
		"OR SUBJECT greet FROM andre": {Or: [][2]imap.SearchCriteria{{
			{Header: []imap.SearchCriteriaHeaderField{hdr("Subject", "greet")}},
			{Header: []imap.SearchCriteriaHeaderField{hdr("From", "andre@")}},
		}}},
	}
	want := map[string][]imap.UID{
		"FROM alice": {1}, "FROM andré": {3}, "TO team": {1}, "SUBJECT résumé": {1}, "HEADER CC \"\"": {2},
		"HEADER SUBJECT \"\"": {1, 2, 3}, "BCC hidden": {2}, "NOT FROM example": nil, "OR SUBJECT greet FROM andre": {2, 3},
	}
	search := func(q imap.SearchCriteria) []imap.UID {
		t.Helper()
		d, err := c.UIDSearch(&q, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return d.AllUIDs()
	}
	for name, q := range queries {
		read := q
		read.Body = []string{""} // not served by the cache: reads the messages
		first, again, fromMessages := search(q), search(q), search(read)
		if !slices.Equal(first, want[name]) || !slices.Equal(again, want[name]) || !slices.Equal(fromMessages, want[name]) {
			t.Errorf("%s: first %v, again (cached) %v, from the messages %v; want %v", name, first, again, fromMessages, want[name])
		}
	}
	// Expunge message 1; deliver a new message from Alice.
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, "From: Alice <alice@example.org>\nSubject: again\n\nw\n")
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if got := search(queries["FROM alice"]); !slices.Equal(got, []imap.UID{4}) {
		t.Errorf("FROM alice after expunging 1 and delivering 4: %v", got)
	}
	// The cache outlives the mailbox's last session; a message expunged
	// while no session has the mailbox open is not found from it.
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Expunge(context.Background(), e.inbox(t), []store.UID{4}); err != nil {
		t.Fatal(err)
	}
	c = e.client(t, nil)
	mustSelect(t, c, "INBOX")
	if got := search(queries["FROM alice"]); len(got) != 0 {
		t.Errorf("FROM alice after 4 was expunged while the mailbox was closed: %v", got)
	}
	if got := search(queries["BCC hidden"]); !slices.Equal(got, []imap.UID{2}) {
		t.Errorf("BCC hidden in a new session: %v", got)
	}
}
