package imap_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func listNames(t testing.TB, c *imapclient.Client, pattern string, opts *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	l, err := c.List("", pattern, opts).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*imap.ListData)
	for _, d := range l {
		out[d.Mailbox] = d
	}
	return out
}

func TestMailboxes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)

	all := listNames(t, c, "*", nil)
	for name, use := range map[string]imap.MailboxAttr{"Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts, "Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive} {
		if d := all[name]; d == nil || !slices.Contains(d.Attrs, use) || d.Delim != '/' {
			t.Errorf("LIST %s: %+v, want %s and delimiter /", name, d, use)
		}
	}
	if all["INBOX"] == nil {
		t.Fatalf("no INBOX in LIST: %v", all)
	}

	for _, name := range []string{"Work", "Work/2024/Q1", "Lists/"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	if err := c.Create("Work", nil).Wait(); !isCode(err, imap.ResponseCodeAlreadyExists) {
		t.Errorf("CREATE existing: %v", err)
	}
	if err := c.Create("Important", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrFlagged}}).Wait(); err != nil {
		t.Errorf("CREATE (USE (\\Flagged)): %v", err)
	}
	all = listNames(t, c, "*", nil)
	for _, name := range []string{"Work", "Work/2024", "Work/2024/Q1", "Lists", "Important"} {
		if all[name] == nil {
			t.Errorf("LIST lacks %s", name)
		}
	}
	if !slices.Contains(all["Work"].Attrs, imap.MailboxAttrHasChildren) || !slices.Contains(all["Lists"].Attrs, imap.MailboxAttrHasNoChildren) {
		t.Errorf("CHILDREN attrs: Work %v Lists %v", all["Work"].Attrs, all["Lists"].Attrs)
	}
	if !slices.Contains(all["Important"].Attrs, imap.MailboxAttrFlagged) {
		t.Errorf("Important attrs %v", all["Important"].Attrs)
	}
	if top := listNames(t, c, "%", nil); top["Work/2024"] != nil || top["Work"] == nil {
		t.Errorf("LIST %% should not descend: %v", top)
	}
	if su := listNames(t, c, "*", &imap.ListOptions{SelectSpecialUse: true}); len(su) != 6 || su["Work"] != nil {
		t.Errorf("LIST (SPECIAL-USE) gave %d mailboxes", len(su))
	}

	// RENAME moves the children along, keeping UIDVALIDITY.
	appendMsg(t, c, "Work/2024/Q1", simpleMsg("q1", "report"), nil)
	before, _ := c.Status("Work/2024/Q1", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err := c.Rename("Work", "Jobs/Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all = listNames(t, c, "*", nil)
	if all["Work"] != nil || all["Work/2024/Q1"] != nil || all["Jobs/Old/2024/Q1"] == nil || all["Jobs"] == nil {
		t.Errorf("after RENAME: %v", keys(all))
	}
	after, err := c.Status("Jobs/Old/2024/Q1", &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
	if err != nil || after.UIDValidity != before.UIDValidity || *after.NumMessages != 1 {
		t.Errorf("STATUS after rename: %+v %v", after, err)
	}

	// Renaming INBOX moves its messages to a new mailbox; INBOX stays, empty.
	appendMsg(t, c, "INBOX", simpleMsg("in", "in"), nil)
	if err := c.Rename("INBOX", "Old Inbox", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	in, _ := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	old, err := c.Status("Old Inbox", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *in.NumMessages != 0 || *old.NumMessages != 1 {
		t.Errorf("INBOX rename: INBOX %v, Old Inbox %v (%v)", in, old, err)
	}

	// DELETE keeps children; INBOX cannot be deleted.
	if err := c.Delete("Jobs/Old").Wait(); err != nil {
		t.Errorf("DELETE Jobs/Old: %v", err)
	}
	if all = listNames(t, c, "*", nil); all["Jobs/Old/2024/Q1"] == nil || all["Jobs/Old"] != nil {
		t.Errorf("after DELETE parent: %v", keys(all))
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Errorf("DELETE INBOX succeeded")
	}
	if err := c.Delete("Nope").Wait(); !isCode(err, imap.ResponseCodeNonExistent) {
		t.Errorf("DELETE missing: %v", err)
	}

	// SUBSCRIBE / UNSUBSCRIBE / LSUB.
	if err := c.Unsubscribe("Lists").Wait(); err != nil {
		t.Fatal(err)
	}
	subs := listNames(t, c, "*", &imap.ListOptions{SelectSubscribed: true})
	if subs["Lists"] != nil || subs["INBOX"] == nil || !slices.Contains(subs["INBOX"].Attrs, imap.MailboxAttrSubscribed) {
		t.Errorf("LIST (SUBSCRIBED): %v", keys(subs))
	}
	r := e.raw(t)
	r.login(t)
	if out := r.cmd(t, `LSUB "" "*"`, "OK"); strings.Contains(out, "Lists") || !strings.Contains(out, "* LSUB") {
		t.Errorf("LSUB: %s", out)
	}
	if err := c.Subscribe("Lists").Wait(); err != nil {
		t.Fatal(err)
	}
	if out := r.cmd(t, `LSUB "" "*"`, "OK"); !strings.Contains(out, "Lists") {
		t.Errorf("LSUB after SUBSCRIBE: %s", out)
	}

	// STATUS of any mailbox, and LIST-STATUS.
	appendMsg(t, c, "Lists", simpleMsg("l", "l"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	appendMsg(t, c, "Lists", simpleMsg("m", "m"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})
	st, err := c.Status("Lists", &imap.StatusOptions{NumMessages: true, NumUnseen: true, NumDeleted: true, Size: true, UIDNext: true}).Wait()
	if err != nil || *st.NumMessages != 2 || *st.NumUnseen != 1 || *st.NumDeleted != 1 || *st.Size == 0 || st.UIDNext != 3 {
		t.Errorf("STATUS Lists: %+v %v", st, err)
	}
	ls, err := c.List("", "Lists", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil || len(ls) != 1 || ls[0].Status == nil || *ls[0].Status.NumMessages != 2 {
		t.Errorf("LIST RETURN (STATUS): %+v %v", ls, err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE: %+v %v", ns, err)
	}
}

func keys(m map[string]*imap.ListData) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
