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

	// DELETE keeps children, and the parent's name as \Noselect
	// (TestDeleteMailboxWithChildren); INBOX cannot be deleted.
	if err := c.Delete("Jobs/Old").Wait(); err != nil {
		t.Errorf("DELETE Jobs/Old: %v", err)
	}
	if all = listNames(t, c, "*", nil); all["Jobs/Old/2024/Q1"] == nil || all["Jobs/Old"] == nil || !slices.Contains(all["Jobs/Old"].Attrs, imap.MailboxAttrNoSelect) {
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

// TestDeleteMailboxWithChildren: RFC 9051 6.3.4 / RFC 3501 6.3.4. DELETE of
// a mailbox with children removes its messages and leaves its name as a
// \Noselect level of the hierarchy (\NonExistent for IMAP4rev2) while the
// children exist; deleting that name then is NO; once the last child is
// deleted the name is gone too.
func TestDeleteMailboxWithChildren(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	if err := c.Create("Projects/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, c, "Projects", simpleMsg("plan", "p"), nil)
	appendMsg(t, c, "Projects", simpleMsg("budget", "b"), nil)
	appendMsg(t, c, "Projects/2026", simpleMsg("q1", "q"), nil)
	before, err := e.st.MailboxByName(e.acct.ID, "Projects")
	if err != nil || before.Messages != 2 {
		t.Fatalf("Projects before DELETE: %+v %v", before, err)
	}
	// Someone has it selected: they see its messages go.
	var rec recorder
	c2 := e.client(t, rec.handler())
	mustSelect(t, c2, "Projects")

	if err := c.Delete("Projects").Wait(); err != nil {
		t.Fatalf("DELETE Projects (has children): %v", err)
	}
	if _, err := e.st.MailboxByID(before.ID); err == nil {
		t.Errorf("DELETE Projects kept the mailbox and its messages")
	}
	if err := c2.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, exp, _ := rec.snapshot(); len(exp) != 2 {
		t.Errorf("session that had Projects selected saw %d EXPUNGEs, want 2", len(exp))
	}

	// rev1: \Noselect under both "*" and "%".
	for _, pat := range []string{"*", "%"} {
		d := listNames(t, c, pat, nil)["Projects"]
		if d == nil || !slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) || !slices.Contains(d.Attrs, imap.MailboxAttrHasChildren) {
			t.Errorf("LIST %q after DELETE: Projects is %+v, want \\Noselect \\HasChildren", pat, d)
		}
	}
	if d := listNames(t, c, "*", nil)["Projects/2026"]; d == nil || slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) {
		t.Errorf("child after DELETE of its parent: %+v", d)
	}
	if su := listNames(t, c, "*", &imap.ListOptions{SelectSubscribed: true}); su["Projects"] != nil {
		t.Errorf("LIST (SUBSCRIBED) shows the deleted parent: %+v", su["Projects"])
	}
	if ls, err := c.List("", "Projects", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect(); err != nil || len(ls) != 1 || ls[0].Status != nil {
		t.Errorf("LIST RETURN (STATUS) of a \\Noselect name: %+v %v, want it listed without STATUS", ls, err)
	}
	if _, err := c.Select("Projects", nil).Wait(); err == nil {
		t.Errorf("SELECT of a \\Noselect name succeeded")
	}
	if _, err := c.Status("Projects", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Errorf("STATUS of a \\Noselect name succeeded")
	}
	// Deleting a \Noselect name that has children is an error.
	if err := c.Delete("Projects").Wait(); !isCode(err, imap.ResponseCodeHasChildren) {
		t.Errorf("DELETE of \\Noselect Projects with a child: %v, want NO [HASCHILDREN]", err)
	}

	// rev2: \NonExistent, only where "%" asks for levels of hierarchy.
	r := e.raw(t)
	r.login(t)
	r.cmd(t, "ENABLE IMAP4rev2", "OK")
	if out := r.cmd(t, `LIST "" "%"`, "OK"); !strings.Contains(out, `* LIST (\NonExistent \HasChildren) "/" "Projects"`+"\r\n") {
		t.Errorf("rev2 LIST %%:\n%s", out)
	}
	if out := r.cmd(t, `LIST "" "*"`, "OK"); strings.Contains(out, `"/" "Projects"`+"\r\n") || !strings.Contains(out, `"/" "Projects/2026"`) {
		t.Errorf("rev2 LIST * (a \\NonExistent name matched only by the pattern is not returned):\n%s", out)
	}

	// Its last child gone, the name goes too; then it can be created anew.
	if err := c.Delete("Projects/2026").Wait(); err != nil {
		t.Fatal(err)
	}
	if all := listNames(t, c, "*", nil); all["Projects"] != nil || all["Projects/2026"] != nil {
		t.Errorf("after deleting the last child: %v", keys(all))
	}
	if err := c.Delete("Projects").Wait(); !isCode(err, imap.ResponseCodeNonExistent) {
		t.Errorf("DELETE Projects with no children left: %v, want NO [NONEXISTENT]", err)
	}
	if err := c.Create("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if d := mustSelect(t, c, "Projects"); d.NumMessages != 0 || d.UIDValidity == before.UIDValidity {
		t.Errorf("re-created Projects: %d messages, UIDVALIDITY %d (old %d)", d.NumMessages, d.UIDValidity, before.UIDValidity)
	}
}
