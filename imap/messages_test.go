package imap_test

import (
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func uidsIn(t testing.TB, c *imapclient.Client, mbox string) []imap.UID {
	t.Helper()
	mustSelect(t, c, mbox)
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}

func TestAppendCopyMoveUIDPlus(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))
	u1 := appendMsg(t, c, "INBOX", simpleMsg("one", "1"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, "$Label1"}, Time: date})
	u2 := appendMsg(t, c, "INBOX", simpleMsg("two", "2"), nil)
	u3 := appendMsg(t, c, "INBOX", simpleMsg("three", "3"), nil)
	if u1 != 1 || u2 != 2 || u3 != 3 {
		t.Fatalf("APPENDUIDs %d %d %d, want 1 2 3", u1, u2, u3)
	}
	sel := mustSelect(t, c, "INBOX")
	msgs, err := c.Fetch(imap.UIDSetNum(u1), &imap.FetchOptions{Flags: true, InternalDate: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !msgs[0].InternalDate.Equal(date) || !slices.Contains(msgs[0].Flags, imap.FlagDraft) || !slices.Contains(msgs[0].Flags, "$Label1") {
		t.Errorf("APPEND flags/date: %v %v", msgs[0].Flags, msgs[0].InternalDate)
	}

	// COPY: COPYUID names both sides.
	cd, err := c.Copy(imap.UIDSetNum(u1, u3), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	arch, err := e.st.MailboxByName(e.acct.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if cd.UIDValidity != arch.UIDValidity || cd.SourceUIDs.String() != "1,3" || cd.DestUIDs.String() != "1:2" {
		t.Errorf("COPYUID %d %s %s", cd.UIDValidity, cd.SourceUIDs, cd.DestUIDs)
	}
	// COPY to a missing mailbox: TRYCREATE.
	if _, err := c.Copy(imap.UIDSetNum(u1), "Nope").Wait(); !isCode(err, imap.ResponseCodeTryCreate) {
		t.Errorf("COPY to missing mailbox: %v, want NO [TRYCREATE]", err)
	}

	// MOVE: COPYUID, then the source is expunged.
	md, err := c.Move(imap.UIDSetNum(u2), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if md.SourceUIDs.String() != "2" || md.DestUIDs.String() != "1" {
		t.Errorf("MOVE COPYUID %s %s", md.SourceUIDs, md.DestUIDs)
	}
	if got := uidsIn(t, c, "INBOX"); !slices.Equal(got, []imap.UID{1, 3}) {
		t.Errorf("INBOX after MOVE: %v", got)
	}
	if got := uidsIn(t, c, "Trash"); !slices.Equal(got, []imap.UID{1}) {
		t.Errorf("Trash after MOVE: %v", got)
	}

	// UID EXPUNGE removes only the named \Deleted messages; UIDs are
	// never reused afterwards; UIDVALIDITY stays.
	mustSelect(t, c, "INBOX")
	if _, err := c.Store(imap.UIDSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if seqs, err := c.UIDExpunge(imap.UIDSetNum(3)).Collect(); err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Errorf("UID EXPUNGE 3: %v %v, want [2]", seqs, err)
	}
	if seqs, err := c.Expunge().Collect(); err != nil || !slices.Equal(seqs, []uint32{1}) {
		t.Errorf("EXPUNGE: %v %v, want [1]", seqs, err)
	}
	u4 := appendMsg(t, c, "INBOX", simpleMsg("four", "4"), nil)
	if u4 != 4 {
		t.Errorf("APPEND after expunging UIDs 1-3 got UID %d, want 4", u4)
	}
	if again := mustSelect(t, c, "INBOX"); again.UIDValidity != sel.UIDValidity || again.UIDNext != 5 {
		t.Errorf("UIDVALIDITY %d→%d, UIDNEXT %d", sel.UIDValidity, again.UIDValidity, again.UIDNext)
	}
}

func isCode(err error, code imap.ResponseCode) bool {
	ie, ok := err.(*imap.Error)
	return ok && ie.Code == code
}

func TestCloseExpungesUnselectDoesNot(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	for _, s := range []string{"a", "b", "c"} {
		appendMsg(t, c, "INBOX", simpleMsg(s, s), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})
	}
	appendMsg(t, c, "INBOX", simpleMsg("keep", "keep"), nil)

	mustSelect(t, c, "INBOX")
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	mb, _ := e.st.MailboxByName(e.acct.ID, "INBOX")
	if mb.Messages != 4 {
		t.Errorf("after UNSELECT: %d messages, want 4", mb.Messages)
	}

	// EXAMINE then CLOSE: read-only, so CLOSE deselects without expunging
	// and succeeds (RFC 9051 6.4.1); EXPUNGE there is refused.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expunge().Collect(); !isCode(err, imap.ResponseCodeCannot) {
		t.Errorf("EXPUNGE after EXAMINE: %v, want NO [CANNOT]", err)
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE after EXAMINE: %v, want OK", err)
	}
	if mb, _ := e.st.MailboxByName(e.acct.ID, "INBOX"); mb.Messages != 4 {
		t.Errorf("CLOSE after EXAMINE expunged: %d messages, want 4", mb.Messages)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if st := c.State(); st != imap.ConnStateAuthenticated {
		t.Errorf("after CLOSE of an EXAMINEd mailbox the client is in state %v, want authenticated", st)
	}
	// The server agrees: nothing is selected any more.
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "EXAMINE INBOX", "OK")
	r.cmd(t, "CLOSE", "OK")
	r.cmd(t, "FETCH 1 (UID)", "BAD")

	var rec recorder
	c2 := e.client(t, rec.handler())
	mustSelect(t, c2, "INBOX")
	if err := c2.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	if mb, _ := e.st.MailboxByName(e.acct.ID, "INBOX"); mb.Messages != 1 {
		t.Errorf("after CLOSE: %d messages, want 1", mb.Messages)
	}
	if err := c2.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, exp, _ := rec.snapshot(); len(exp) != 0 {
		t.Errorf("CLOSE sent EXPUNGE responses %v (RFC 9051 6.4.1 says none)", exp)
	}
}
