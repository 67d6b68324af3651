package search

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"petrel/store"
	"petrel/store/storetest"
)

// folder is a store whose INBOX holds msgs (UIDs 1, 2, …), the first one
// flagged \Seen.
func folder(t *testing.T, msgs ...string) (*store.Store, store.MailboxID, []store.UID) {
	t.Helper()
	st := storetest.Open(t)
	acct := storetest.Account(t, st, "ann@example.com")
	inbox, err := st.MailboxByName(acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	for i, m := range msgs {
		var flags []string
		if i == 0 {
			flags = []string{store.FlagSeen}
		}
		d, err := st.Append(context.Background(), inbox.ID, []byte(m), flags, time.Date(2026, 1, 10+i, 12, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, d.UID)
	}
	return st, inbox.ID, uids
}

func hdr(k, v string) imap.SearchCriteria {
	return imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
}

// Run matches flags, dates, sizes, header fields (encoded words decoded,
// addresses as RFC 5322 reads them) and text in its charset and
// transfer encoding.
func TestRun(t *testing.T) {
	st, mbx, uids := folder(t,
		"From: Alice <alice@example.org>\r\nSubject: =?iso-8859-1?q?R=E9sum=E9?=\r\nDate: Sat, 10 Jan 2026 09:00:00 +0000\r\n\r\nplain words\r\n",
		"From: <bob (the builder) @ example.com>\r\nTo: ann@example.com\r\nSubject: lunch\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=F6ln\r\n",
		"From: carol@example.org\r\nSubject: report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nbnVtYmVycyBpbnNpZGU=\r\n--b\r\nContent-Type: application/pdf\r\n\r\nnot text: quarterly\r\n--b--\r\n",
	)
	for _, tc := range []struct {
		name string
		c    imap.SearchCriteria
		want []int // indexes in uids
	}{
		{"all", imap.SearchCriteria{}, []int{0, 1, 2}},
		{"seen", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []int{0}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []int{1, 2}},
		{"encoded subject", hdr("Subject", "résumé"), []int{0}},
		{"from, case folded", hdr("From", "ALICE"), []int{0}},
		{"address without its comments", hdr("From", "bob@example.com"), []int{1}},
		{"field present", hdr("To", ""), []int{1}},
		{"body in its charset", imap.SearchCriteria{Body: []string{"grüße aus köln"}}, []int{1}},
		{"base64 body", imap.SearchCriteria{Body: []string{"numbers"}}, []int{2}},
		{"not an attachment's bytes", imap.SearchCriteria{Body: []string{"quarterly"}}, nil},
		{"text: header or body", imap.SearchCriteria{Text: []string{"lunch"}}, []int{1}},
		{"arrived since", imap.SearchCriteria{Since: time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC)}, []int{1, 2}},
		{"sent before (Date field)", imap.SearchCriteria{SentBefore: time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC)}, []int{0}},
		{"larger", imap.SearchCriteria{Larger: 160}, []int{1, 2}},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{hdr("Subject", "lunch"), hdr("Subject", "report")}}}, []int{1, 2}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{hdr("Subject", "lunch")}}, []int{0, 2}},
		{"uid set", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(imap.UID(uids[1]))}}, []int{1}},
		{"seq set", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(3)}}, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []store.UID
			err := Run(context.Background(), st, mbx, uids, &tc.c, Options{}, func(m *Msg) bool {
				got = append(got, m.Meta.UID)
				return true
			})
			var want []store.UID
			for _, i := range tc.want {
				want = append(want, uids[i])
			}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("got %v, want %v (%v)", got, want, err)
			}
		})
	}
}

// found returning false stops the search; a cancelled context stops it
// with the context's error; uids are searched in the order given, Seq
// being the place in them.
func TestRunStopsAndOrder(t *testing.T) {
	st, mbx, uids := folder(t, "Subject: a\r\n\r\nx\r\n", "Subject: b\r\n\r\nx\r\n", "Subject: c\r\n\r\nx\r\n")
	desc := slices.Clone(uids)
	slices.Reverse(desc)
	var got []store.UID
	var seqs []uint32
	c := imap.SearchCriteria{Body: []string{"x"}}
	err := Run(context.Background(), st, mbx, desc, &c, Options{}, func(m *Msg) bool {
		got, seqs = append(got, m.Meta.UID), append(seqs, m.Seq)
		return len(got) < 2
	})
	if err != nil || !slices.Equal(got, desc[:2]) || !slices.Equal(seqs, []uint32{1, 2}) {
		t.Errorf("got %v seqs %v (%v)", got, seqs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, st, mbx, uids, &c, Options{}, func(*Msg) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// References threads by References and In-Reply-To (a reply whose parent
// is missing hangs under a dummy for it), then by base subject.
func TestReferences(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	item := func(uid int, subj, id string, refs ...string) *Item {
		s, reply := BaseSubject(subj)
		return &Item{UID: store.UID(uid), Seq: uint32(uid), Date: day(uid), Subject: s, IsReply: reply, MessageID: id, Refs: refs}
	}
	msgs := []*Item{
		item(1, "Plans", "p@x"),
		item(2, "Other", "o@x"),
		item(3, "Re: Plans", "r1@x", "p@x"),
		item(4, "Re: Re: Plans", "r2@x", "p@x", "r1@x"),
		item(5, "Fwd: Other", "f@x"),
		item(6, "lost", "l1@x", "gone@x"),
		item(7, "lost too", "l2@x", "gone@x"),
	}
	var got [][]store.UID
	for _, th := range References(msgs) {
		var uids []store.UID
		th.Walk(func(it *Item) { uids = append(uids, it.UID) })
		got = append(got, uids)
	}
	want := [][]store.UID{{1, 3, 4}, {2, 5}, {6, 7}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("threads %v, want %v", got, want)
	}
	for _, tc := range []struct {
		in, base string
		reply    bool
	}{
		{"Re: [list] Fwd: Hello  world (fwd)", "hello world", true},
		{"[fwd: Plans]", "plans", true},
		{"Plain", "plain", false},
	} {
		if b, r := BaseSubject(tc.in); b != tc.base || r != tc.reply {
			t.Errorf("BaseSubject(%q) = %q, %v", tc.in, b, r)
		}
	}
}
