package webmail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"petrel/queue"
	"petrel/search"
	"petrel/store"

	"github.com/emersion/go-imap/v2"
)

func TestListPages(t *testing.T) {
	h := newHarness(t, false)
	inbox := h.inbox("ann@example.com")
	var items []store.AppendItem
	for i := 1; i <= 120; i++ {
		items = append(items, store.AppendItem{Body: []byte(fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nSubject: message %03d\r\n\r\nbody\r\n", i, i, i)), Date: time.Unix(int64(1e9+i), 0)})
	}
	if _, err := h.st.AppendMany(context.Background(), inbox.ID, items); err != nil {
		t.Fatal(err)
	}
	h.deliver("ann@example.com", "INBOX", "From: a@example.org\nSubject: with attachment\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\nPDF\n--b--\n", store.FlagSeen, store.FlagFlagged, store.FlagAnswered)
	c := h.client()
	c.login("ann@example.com", "secret")
	resp, body := c.get(mailboxURL(inbox.ID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d", resp.StatusCode)
	}
	rows := strings.Count(body, `<tr class="`)
	if rows != pageSize {
		t.Errorf("first page has %d rows, want %d", rows, pageSize)
	}
	first := strings.Index(body, "with attachment")
	if first < 0 || strings.Index(body, "message 120") < first || !strings.Contains(body, `aria-label="has attachment"`) ||
		!strings.Contains(body, `aria-label="flagged"`) || !strings.Contains(body, `aria-label="answered"`) {
		t.Errorf("first page does not start with the newest message and its marks")
	}
	if !strings.Contains(body, "120 unread, 121 in all") || !strings.Contains(body, "<title>(120) Inbox – Petrel</title>") {
		t.Errorf("counts missing from the page")
	}
	if strings.Contains(body, "← Newer") {
		t.Errorf("first page links to newer")
	}
	older := between(body, `<a href="`, `" rel="next"`)
	_, body = c.get(html_unescape(older))
	if !strings.Contains(body, "message 071") || strings.Contains(body, "message 072") || !strings.Contains(body, "message 022") || strings.Contains(body, "message 021") {
		t.Errorf("second page is not messages 71..22")
	}
	older = between(body, `<a href="`, `" rel="next"`)
	_, body = c.get(html_unescape(older))
	if strings.Count(body, `<tr class="`) != 21 || strings.Contains(body, "Older →") {
		t.Errorf("last page: %d rows", strings.Count(body, `<tr class="`))
	}
	newer := between(body, `<a href="`, `" rel="prev"`)
	_, body = c.get(html_unescape(newer))
	if !strings.Contains(body, "message 071") || !strings.Contains(body, "message 022") {
		t.Errorf("newer from the last page is not the second page")
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, b)
	if i < 0 {
		return ""
	}
	j := strings.LastIndex(s[:i], a)
	if j < 0 {
		return ""
	}
	return s[j+len(a) : i]
}

func html_unescape(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

func TestReadMessage(t *testing.T) {
	h := newHarness(t, false)
	plain := h.deliver("ann@example.com", "INBOX", "From: Zoë <z@example.org>\nTo: ann@example.com\nCc: bob@example.com\nSubject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nSee https://example.org/a?b=1&c=2. <b>not bold</b> caf=E9\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := h.inbox("ann@example.com")
	_, body := c.get(messageURL(inbox.ID, plain))
	for _, want := range []string{"café", "Zoë &lt;z@example.org&gt;", `<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">https://example.org/a?b=1&amp;c=2</a>.`, "&lt;b&gt;not bold&lt;/b&gt; café", "bob@example.com"} {
		if !strings.Contains(body, want) {
			t.Errorf("message page lacks %q", want)
		}
	}
	if fl := h.flags("ann@example.com", "INBOX", plain); !slices.Contains(fl, store.FlagSeen) {
		t.Errorf("reading did not set \\Seen: %v", fl)
	}
	// HTML: a frame; its content sanitized; remote images only when asked.
	alt := h.deliver("ann@example.com", "INBOX", "From: a@example.org\nSubject: html\nContent-Type: multipart/alternative; boundary=x\n\n--x\nContent-Type: text/plain\n\nplain version\n--x\nContent-Type: text/html; charset=utf-8\n\n<p onclick=\"alert(1)\">Hello <img src=\"https://tracker.example/p.gif\"><script>alert(2)</script><a href=\"https://example.org/\">link</a></p>\n--x--\n")
	_, body = c.get(messageURL(inbox.ID, alt))
	if !strings.Contains(body, `<iframe class="mailhtml"`) || !strings.Contains(body, `sandbox="allow-popups allow-popups-to-escape-sandbox"`) || strings.Contains(body, "plain version") {
		t.Errorf("HTML message page: no sandboxed frame")
	}
	resp, frame := c.get(messageURL(inbox.ID, alt) + "/html?part=2")
	if resp.StatusCode != http.StatusOK || strings.Contains(frame, "tracker.example") || strings.Contains(frame, "<script") || strings.Contains(frame, "onclick") ||
		!strings.Contains(frame, `<a href="https://example.org/" rel="nofollow noreferrer noopener" target="_blank">link</a>`) || resp.Header.Get("X-Blocked-Images") != "1" {
		t.Errorf("frame: %d %s", resp.StatusCode, frame)
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "https:") {
		t.Errorf("frame CSP allows remote images by default")
	}
	resp, frame = c.get(messageURL(inbox.ID, alt) + "/html?part=2&images=1")
	if !strings.Contains(frame, `src="https://tracker.example/p.gif"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "img-src data: https: http:") {
		t.Errorf("images allowed: %s", frame)
	}
	_, body = c.get(messageURL(inbox.ID, alt) + "?view=text")
	if !strings.Contains(body, "plain version") {
		t.Errorf("plain text view")
	}
	resp, raw := c.get(messageURL(inbox.ID, alt) + "/raw")
	if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(raw, "<script>alert(2)</script>") {
		t.Errorf("raw source: %s", resp.Header.Get("Content-Type"))
	}
	dsn := h.deliver("ann@example.com", "INBOX", "From: MAILER-DAEMON@example.com\nSubject: Undelivered\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r\nContent-Type: text/plain\n\nfailed\n--r\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; x@example.org\n--r--\n")
	if _, body := c.get(messageURL(inbox.ID, dsn)); !strings.Contains(body, `<a href="/outbox">See your outbox</a>`) {
		t.Errorf("a bounce does not link to the outbox")
	}
	// A report of this server's names its queue entry (queue/dsn.go's
	// X-Petrel-Queue-ID): the link goes to that entry.
	ours := h.deliver("ann@example.com", "INBOX", "From: MAILER-DAEMON@example.com\nSubject: Undelivered\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r\nContent-Type: text/plain\n\nfailed\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\nX-Petrel-Queue-ID: 1A2b-3.c_4\nArrival-Date: Mon, 30 Nov 2026 10:00:00 +0000\n\nFinal-Recipient: rfc822; x@example.org\nAction: failed\n--r--\n")
	if _, body := c.get(messageURL(inbox.ID, ours)); !strings.Contains(body, `<a href="/outbox?id=1A2b-3.c_4#q-1A2b-3.c_4" data-key="o" aria-keyshortcuts="o">See that message in your outbox</a>`) {
		t.Errorf("a bounce does not link to its outbox entry")
	}
	hostile := h.deliver("ann@example.com", "INBOX", "Subject: x\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r\nContent-Type: message/delivery-status\n\nX-Petrel-Queue-ID: \"><script>x</script>\n--r--\n")
	if _, body := c.get(messageURL(inbox.ID, hostile)); strings.Contains(body, "/outbox?id=") || !strings.Contains(body, `<a href="/outbox">See your outbox</a>`) {
		t.Errorf("a bad queue id is linked to")
	}
	if _, body := c.get(messageURL(inbox.ID, plain)); strings.Contains(body, "See your outbox") {
		t.Errorf("a plain message links to the outbox")
	}
	if resp, _ := c.get(messageURL(inbox.ID, 999)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing message: %d", resp.StatusCode)
	}
}

func TestActions(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	var uids []store.UID
	for i := range 6 {
		uids = append(uids, h.deliver("ann@example.com", "INBOX", simpleMessage("x@example.org", "ann@example.com", fmt.Sprint("act ", i), "x")))
	}
	inbox := h.inbox("ann@example.com")
	act := func(action string, mbx *store.Mailbox, dest string, us ...store.UID) {
		t.Helper()
		v := url.Values{"mbx": {itoa(uint64(mbx.ID))}, "action": {action}, "dest": {dest}}
		for _, u := range us {
			v.Add("uid", itoa(uint64(u)))
		}
		if resp, body := c.post("/act", v); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", action, resp.StatusCode, body)
		}
	}
	act("read", inbox, "", uids[0], uids[1])
	act("flag", inbox, "", uids[1])
	if fl := h.flags("ann@example.com", "INBOX", uids[1]); !slices.Equal(fl, []string{store.FlagFlagged, store.FlagSeen}) {
		t.Errorf("flags: %v", fl)
	}
	act("unread", inbox, "", uids[1])
	act("unflag", inbox, "", uids[1])
	if fl := h.flags("ann@example.com", "INBOX", uids[1]); len(fl) != 0 {
		t.Errorf("flags after unread, unflag: %v", fl)
	}
	work, err := h.st.CreateMailbox(context.Background(), h.ann.ID, "Work", "")
	if err != nil {
		t.Fatal(err)
	}
	act("move", inbox, itoa(uint64(work.ID)), uids[2])
	act("archive", inbox, "", uids[3])
	act("junk", inbox, "", uids[4])
	act("delete", inbox, "", uids[5])
	for name, want := range map[string]uint32{"INBOX": 2, "Work": 1, "Archive": 1, "Junk": 1, "Trash": 1} {
		if got := h.mbx("ann@example.com", name).Messages; got != want {
			t.Errorf("%s has %d messages, want %d", name, got, want)
		}
	}
	junk := h.mbx("ann@example.com", "Junk")
	if fl := h.flags("ann@example.com", "Junk", 1); !slices.Contains(fl, "$Junk") {
		t.Errorf("junk flags %v", fl)
	}
	act("notjunk", junk, "", 1)
	if h.mbx("ann@example.com", "INBOX").Messages != 3 || h.mbx("ann@example.com", "Junk").Messages != 0 {
		t.Errorf("not junk did not move back")
	}
	trash := h.mbx("ann@example.com", "Trash")
	act("delete", trash, "", 1)
	if h.mbx("ann@example.com", "Trash").Messages != 0 {
		t.Errorf("delete from Trash kept the message")
	}
	resp, _ := c.post("/act", url.Values{"mbx": {itoa(uint64(inbox.ID))}, "action": {"move"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("act without messages: %d", resp.StatusCode)
	}
}

func TestFolders(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	_, body := c.get("/folders")
	if !strings.Contains(body, `<p class="usage">Storage used: 0 B, 0 messages.</p>`) {
		t.Errorf("folders page without the usage line:\n%s", body)
	}
	if err := h.st.SetQuota(t.Context(), "ann@example.com", 1<<20, 1000); err != nil {
		t.Fatal(err)
	}
	if _, body := c.get("/folders"); !strings.Contains(body, `<p class="usage">Storage used: 0 B of 1.0 MB (0%), 0 messages of 1000.</p>`) {
		t.Errorf("folders page without the limits:\n%s", body)
	}
	order := []string{">Inbox<", ">Drafts<", ">Sent<", ">Archive<", ">Junk<", ">Trash<"}
	last := -1
	for _, o := range order {
		i := strings.Index(body, o)
		if i < last {
			t.Errorf("sidebar order: %s before the one above it", o)
		}
		last = i
	}
	if resp, _ := c.post("/folders", url.Values{"action": {"create"}, "name": {"Projects"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	p := h.mbx("ann@example.com", "Projects")
	if resp, _ := c.post("/folders", url.Values{"action": {"create"}, "name": {"Alpha"}, "parent": {itoa(uint64(p.ID))}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create child: %d", resp.StatusCode)
	}
	h.mbx("ann@example.com", "Projects/Alpha")
	if resp, _ := c.post("/folders", url.Values{"action": {"rename"}, "mbx": {itoa(uint64(p.ID))}, "name": {"Clients"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", resp.StatusCode)
	}
	h.mbx("ann@example.com", "Clients/Alpha")
	if resp, body := c.post("/folders", url.Values{"action": {"create"}, "name": {"Clients"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "exists already") {
		t.Errorf("create existing: %d", resp.StatusCode)
	}
	if resp, body := c.post("/folders", url.Values{"action": {"create"}, "name": {"/bad/"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not allowed") {
		t.Errorf("create bad name: %d", resp.StatusCode)
	}
	if resp, _ := c.post("/folders", url.Values{"action": {"delete"}, "mbx": {itoa(uint64(h.mbx("ann@example.com", "Sent").ID))}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("delete Sent: %d", resp.StatusCode)
	}
	if resp, _ := c.post("/folders", url.Values{"action": {"delete"}, "mbx": {itoa(uint64(h.mbx("ann@example.com", "Clients/Alpha").ID))}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if _, err := h.st.MailboxByName(h.ann.ID, "Clients/Alpha"); err == nil {
		t.Errorf("folder not deleted")
	}
}

func TestSend(t *testing.T) {
	h := newHarness(t, false)
	if _, err := h.st.SetAlias(context.Background(), "sales@example.com", []string{"ann@example.com"}, store.ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	orig := h.deliver("ann@example.com", "INBOX", "From: Bob <bob@example.com>\nTo: ann@example.com, sales@example.com\nCc: carol@example.org\nSubject: plans\nMessage-ID: <plans@example.com>\nReferences: <older@example.com>\n\nshall we?\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := h.inbox("ann@example.com")
	ref := itoa(uint64(inbox.ID)) + "/" + itoa(uint64(orig))
	_, body := c.get("/compose?reply=" + ref + "&all=1")
	for _, want := range []string{`value="Bob &lt;bob@example.com&gt;"`, `value="carol@example.org"`, `value="Re: plans"`, "&gt; shall we?", `<option selected>ann@example.com</option>`, "<option>sales@example.com</option>"} {
		if !strings.Contains(body, want) {
			t.Errorf("reply-all form lacks %s", want)
		}
	}
	resp, body := c.postMultipart("/send", url.Values{"from": {"sales@example.com"}, "to": {"Bob <bob@example.com>"}, "cc": {"carol@example.org"}, "bcc": {"dave@example.net"},
		"subject": {"Re: plans"}, "body": {"yes\n> shall we?"}, "reply": {ref}}, map[string]string{"notes.txt": "the notes"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	// Local: bob's INBOX; remote: queued for carol and dave (Bcc not in
	// the header); ann's Sent; the original \Answered.
	bobInbox := h.inbox("bob@example.com")
	if bobInbox.Messages != 1 {
		t.Fatalf("bob got %d messages", bobInbox.Messages)
	}
	var got string
	h.st.ReadContent(bobInbox.ID, 1, func(c *store.Content, _ *store.Part) error { got = string(c.Slice(0, c.Size())); return nil })
	for _, want := range []string{"Received: from unknown (localhost [127.0.0.1])", "with HTTP id", "From: <sales@example.com>", "In-Reply-To: <plans@example.com>",
		"References: <older@example.com> <plans@example.com>", "Subject: Re: plans", `filename=notes.txt`, "dGhlIG5vdGVz"} {
		if !strings.Contains(got, want) {
			t.Errorf("bob's copy lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "dave@example.net") {
		t.Errorf("Bcc visible to bob")
	}
	q := h.queue.items[len(h.queue.items)-1]
	if len(q.Rcpts) != 2 || q.Rcpts[0].Addr != "carol@example.org" || q.Rcpts[1].Addr != "dave@example.net" || q.From != "sales@example.com" {
		t.Errorf("queued %+v", q)
	}
	if sent := h.mbx("ann@example.com", "Sent"); sent.Messages != 1 {
		t.Errorf("Sent has %d", sent.Messages)
	}
	if fl := h.flags("ann@example.com", "INBOX", orig); !slices.Contains(fl, store.FlagAnswered) {
		t.Errorf("original not answered: %v", fl)
	}
	// Refusals are shown on the form with the reason.
	for _, tc := range []struct {
		v    url.Values
		want string
	}{
		{url.Values{"to": {"nobody@example.com"}, "subject": {"x"}, "body": {"x"}}, "no such user here (550 5.1.1)"},
		{url.Values{"from": {"bob@example.com"}, "to": {"bob@example.com"}, "subject": {"x"}, "body": {"x"}}, "You cannot send as bob@example.com"},
		{url.Values{"subject": {"x"}, "body": {"x"}}, "give at least one recipient"},
		{url.Values{"to": {"not an address"}, "subject": {"x"}, "body": {"x"}}, "the To field is not a list of addresses"},
	} {
		resp, body := c.postMultipart("/send", tc.v, nil)
		if resp.StatusCode < 400 || !strings.Contains(body, tc.want) || !strings.Contains(body, `value="x"`) {
			t.Errorf("send %v: %d, want %q on the form", tc.v, resp.StatusCode, tc.want)
		}
	}
	// Forward as attachment: the original rides along as message/rfc822.
	resp, body = c.postMultipart("/send", url.Values{"to": {"bob@example.com"}, "subject": {"Fwd: plans"}, "body": {"see"}, "forward": {ref}, "forward_as": {"attachment"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("forward: %d %s", resp.StatusCode, body)
	}
	h.st.ReadContent(bobInbox.ID, 2, func(c *store.Content, _ *store.Part) error { got = string(c.Slice(0, c.Size())); return nil })
	if !strings.Contains(got, "Content-Type: message/rfc822") || !strings.Contains(got, "Message-ID: <plans@example.com>") {
		t.Errorf("forwarded copy:\n%s", got)
	}
	if fl := h.flags("ann@example.com", "INBOX", orig); !slices.Contains(fl, "$Forwarded") {
		t.Errorf("original not $Forwarded: %v", fl)
	}
}

func TestDrafts(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	c.get("/compose")
	resp, _ := c.postMultipart("/send", url.Values{"action": {"draft"}, "to": {"bob@example.com"}, "bcc": {"x@example.org"}, "subject": {"half done"}, "body": {"to be continued"}}, map[string]string{"plan.txt": "the plan", "old.txt": "dropped"})
	drafts := h.mbx("ann@example.com", "Drafts")
	if resp.StatusCode != http.StatusSeeOther || drafts.Messages != 1 {
		t.Fatalf("save draft: %d, %d in Drafts", resp.StatusCode, drafts.Messages)
	}
	if fl := h.flags("ann@example.com", "Drafts", 1); !slices.Contains(fl, store.FlagDraft) {
		t.Errorf("draft flags %v", fl)
	}
	ref := itoa(uint64(drafts.ID)) + "/1"
	_, body := c.get("/compose?draft=" + ref)
	for _, want := range []string{`value="bob@example.com"`, `value="x@example.org"`, `value="half done"`, "to be continued", "Keep plan.txt", "Keep old.txt"} {
		if !strings.Contains(body, want) {
			t.Errorf("draft form lacks %s", want)
		}
	}
	keep := between(body, `name="keep" value="`, `" checked> Keep plan.txt`)
	resp, _ = c.postMultipart("/send", url.Values{"to": {"bob@example.com"}, "subject": {"done"}, "body": {"finished"}, "draft": {ref}, "keep": {keep}}, nil)
	if resp.StatusCode != http.StatusSeeOther || h.mbx("ann@example.com", "Drafts").Messages != 0 || h.inbox("bob@example.com").Messages != 1 {
		t.Errorf("sending the draft: %d, drafts %d", resp.StatusCode, h.mbx("ann@example.com", "Drafts").Messages)
	}
	var got string
	h.st.ReadContent(h.inbox("bob@example.com").ID, 1, func(c *store.Content, _ *store.Part) error { got = string(c.Slice(0, c.Size())); return nil })
	if !strings.Contains(got, "filename=plan.txt") || !strings.Contains(got, "dGhlIHBsYW4=") || strings.Contains(got, "old.txt") {
		t.Errorf("the sent draft's attachments:\n%s", got)
	}
}

func TestSearch(t *testing.T) {
	h := newHarness(t, false)
	h.deliver("ann@example.com", "INBOX", simpleMessage("Alice <alice@example.org>", "ann@example.com", "quarterly report", "numbers inside"))
	h.deliver("ann@example.com", "INBOX", simpleMessage("bob@example.com", "ann@example.com", "lunch", "the quarterly numbers later"))
	h.deliver("ann@example.com", "INBOX", simpleMessage("carol@example.org", "ann@example.com", "holiday", "beach"))
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := itoa(uint64(h.inbox("ann@example.com").ID))
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"quarterly", []string{"quarterly report", "lunch"}},
		{"from:alice", []string{"quarterly report"}},
		{"subject:lunch", []string{"lunch"}},
		{"body:beach", []string{"holiday"}},
		{`"numbers later"`, []string{"lunch"}},
		{"nothing-matches", nil},
	} {
		_, body := c.get("/search?m=" + inbox + "&q=" + url.QueryEscape(tc.q))
		for _, s := range []string{"quarterly report", "lunch", "holiday"} {
			if strings.Contains(body, ">"+s+"</a>") != slices.Contains(tc.want, s) {
				t.Errorf("search %q: %q shown=%v", tc.q, s, !slices.Contains(tc.want, s))
			}
		}
	}
}

// The live connection tells the page of every change, with the counts.
func TestEvents(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/events", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s", resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != "retry: 3000\n" {
		t.Fatalf("first line %q", line)
	}
	h.deliver("ann@example.com", "INBOX", simpleMessage("x@example.org", "ann@example.com", "live", "x"))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no event: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			inbox := h.inbox("ann@example.com")
			want := `"unread":1,"folders":{`
			if !strings.Contains(line, want) || !strings.Contains(line, fmt.Sprintf(`"%d":[1,1]`, inbox.ID)) {
				t.Errorf("event %s", line)
			}
			break
		}
	}
	// Shutdown ends the stream (an http.Server's Shutdown would wait).
	h.web.Shutdown()
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("stream after Shutdown: %v", err)
	}
	// Logged out: no stream.
	resp2, err := http.Get(h.srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusUnauthorized {
		t.Errorf("events logged out: %d", resp2.StatusCode)
	}
}

func TestOutbox(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	c.get("/compose")
	c.postMultipart("/send", url.Values{"to": {"carol@example.org"}, "subject": {"far"}, "body": {"x"}}, nil)
	h.queue.mu.Lock()
	h.queue.items[0].Rcpts[0].Attempts = 2
	h.queue.items[0].Rcpts[0].LastReply = "451 4.7.1 greylisted, try later"
	h.queue.items[0].Rcpts[0].RemoteMTA = "mx.example.org"
	h.queue.items[0].Rcpts[0].Log = []queue.Attempt{{Time: time.Now(), RemoteMTA: "mx.example.org", Reply: "421 4.3.2 first try"}, {Time: time.Now(), RemoteMTA: "mx.example.org", Reply: "451 4.7.1 greylisted, try later"}}
	h.queue.mu.Unlock()
	_, body := c.get("/outbox")
	for _, want := range []string{"carol@example.org", "pending", "451 4.7.1 greylisted, try later", "mx.example.org", "Retry now", "Delivery attempts to carol@example.org (2)", "“far” to carol@example.org", "mx.example.org: 421 4.3.2 first try"} {
		if !strings.Contains(body, want) {
			t.Errorf("outbox lacks %q", want)
		}
	}
	// One entry, as a delivery report's link asks for it.
	c.postMultipart("/send", url.Values{"to": {"dave@example.org"}, "subject": {"second"}, "body": {"x"}}, nil)
	if _, body := c.get("/outbox?id=q1"); !strings.Contains(body, `id="q-q1"`) || strings.Contains(body, "dave@example.org") {
		t.Errorf("/outbox?id=q1 does not show q1 alone:\n%s", body)
	}
	if _, body := c.get("/outbox?id=q9"); !strings.Contains(body, "Message q9 is no longer in your outbox") {
		t.Errorf("/outbox?id=q9 of a message gone:\n%s", body)
	}
	c.post("/outbox", url.Values{"id": {"q1"}, "action": {"retry"}})
	c.post("/outbox", url.Values{"id": {"q1"}, "action": {"cancel"}})
	if !slices.Equal(h.queue.acts, []string{"retry q1", "delete q1"}) {
		t.Errorf("queue actions %v", h.queue.acts)
	}
}

// Mail the user sent as ann+tag@ is in ann's outbox, with the
// configured separator only; another user's +tag is not.
func TestOutboxPlusTag(t *testing.T) {
	h := newHarness(t, false, func(o *Options) { o.PlusSeparator = "+" })
	ctx := context.Background()
	for from, rcpt := range map[string]string{"ann+lists@example.com": "tagged@example.org", "ann-x@example.com": "dashed@example.org", "bob+x@example.com": "bobs@example.org"} {
		if _, err := h.queue.Enqueue(ctx, from, []string{rcpt}, []byte("Subject: s\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client()
	c.login("ann@example.com", "secret")
	_, body := c.get("/outbox")
	if !strings.Contains(body, "tagged@example.org") {
		t.Errorf("ann+lists@'s message not in ann's outbox")
	}
	for _, other := range []string{"dashed@example.org", "bobs@example.org"} {
		if strings.Contains(body, other) {
			t.Errorf("outbox shows %s's message", other)
		}
	}
}

// A finished message (the queue's retired entry) stays in the outbox,
// shown as failed or delivered with its recipients' results and attempt
// log, without "Retry now" or "Cancel", and a delivery report's link to
// it finds it.
func TestOutboxFinished(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	c.get("/compose")
	c.postMultipart("/send", url.Values{"to": {"nobody@example.org"}, "subject": {"lost"}, "body": {"x"}}, nil)
	c.postMultipart("/send", url.Values{"to": {"carol@example.org"}, "subject": {"arrived"}, "body": {"x"}}, nil)
	now := time.Now()
	h.queue.mu.Lock()
	for i, st := range []queue.State{queue.Failed, queue.Delivered} {
		it := &h.queue.items[i]
		it.Finished, it.Attempts = now, 1
		r := &it.Rcpts[0]
		reply := map[queue.State]string{queue.Failed: "550 5.1.1 no such user", queue.Delivered: "250 2.0.0 ok"}[st]
		r.State, r.Attempts, r.NextAttempt, r.LastReply, r.RemoteMTA = st, 1, time.Time{}, reply, "mx.example.org"
		r.Log = []queue.Attempt{{Time: now, RemoteMTA: "mx.example.org", Reply: reply}}
	}
	h.queue.mu.Unlock()
	_, body := c.get("/outbox?id=q1")
	for _, want := range []string{`id="q-q1"`, "“lost” to nobody@example.org", "Finished ", ": failed.", `class="state-failed"`, "550 5.1.1 no such user", "Delivery attempts to nobody@example.org (1)"} {
		if !strings.Contains(body, want) {
			t.Errorf("/outbox?id=q1 of a failed message lacks %q:\n%s", want, body)
		}
	}
	for _, bad := range []string{"no longer in your outbox", "Retry now", "Cancel"} {
		if strings.Contains(body, bad) {
			t.Errorf("/outbox?id=q1 of a failed message shows %q", bad)
		}
	}
	if _, body := c.get("/outbox?id=q2"); !strings.Contains(body, ": delivered.") || strings.Contains(body, "Retry now") {
		t.Errorf("/outbox?id=q2 of a delivered message:\n%s", body)
	}
	// Nothing to retry or cancel: the queue is not asked.
	c.post("/outbox", url.Values{"id": {"q1"}, "action": {"retry"}})
	c.post("/outbox", url.Values{"id": {"q2"}, "action": {"cancel"}})
	if len(h.queue.acts) != 0 {
		t.Errorf("queue actions on finished messages: %v", h.queue.acts)
	}
}

func TestChangePassword(t *testing.T) {
	h := newHarness(t, false)
	c := h.client()
	c.login("ann@example.com", "secret")
	other := h.client()
	other.login("ann@example.com", "secret")
	c.get("/settings")
	if resp, body := c.post("/settings/password", url.Values{"current": {"wrong"}, "new": {"newpassword"}, "confirm": {"newpassword"}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "current password is wrong") {
		t.Errorf("wrong current: %d", resp.StatusCode)
	}
	if resp, _ := c.post("/settings/password", url.Values{"current": {"secret"}, "new": {"short"}, "confirm": {"short"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("short: %d", resp.StatusCode)
	}
	if resp, _ := c.post("/settings/password", url.Values{"current": {"secret"}, "new": {"newpassword"}, "confirm": {"newpassword"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("change: %d", resp.StatusCode)
	}
	if _, err := h.st.Authenticate("ann@example.com", "newpassword"); err != nil {
		t.Errorf("new password does not work: %v", err)
	}
	if resp, _ := c.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Errorf("this session ended")
	}
	if resp, _ := other.get("/settings"); resp.StatusCode == http.StatusOK {
		t.Errorf("other session still alive")
	}
}

// Without JavaScript: every page is plain HTML with forms; the script is
// only a defer'd file, and every form that changes something posts.
func TestNoScriptNeeded(t *testing.T) {
	h := newHarness(t, false)
	uid := h.deliver("ann@example.com", "INBOX", simpleMessage("x@example.org", "ann@example.com", "s", "x"))
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := h.inbox("ann@example.com")
	for _, p := range []string{mailboxURL(inbox.ID), messageURL(inbox.ID, uid), "/compose", "/folders", "/settings", "/outbox"} {
		_, body := c.get(p)
		if strings.Count(body, "<script") != 1 || !strings.Contains(body, `<script src="/static/app.js" defer></script>`) || strings.Contains(body, " onclick=") || strings.Contains(body, "javascript:") {
			t.Errorf("%s has inline script", p)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another host", p)
		}
		if !strings.Contains(body, `<nav aria-label="Folders"`) || !strings.Contains(body, `<main id="main">`) {
			t.Errorf("%s lacks landmarks", p)
		}
	}
	for _, a := range []string{"/static/app.js", "/static/style.css"} {
		if resp, _ := c.get(a); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", a, resp.StatusCode)
		}
	}
}

func TestConversations(t *testing.T) {
	h := newHarness(t, false)
	h.deliver("ann@example.com", "INBOX", "From: a@example.org\nSubject: Trip\nMessage-ID: <trip@x>\n\nx\n")
	h.deliver("ann@example.com", "INBOX", "From: b@example.org\nSubject: Lunch\nMessage-ID: <lunch@x>\n\nx\n")
	h.deliver("ann@example.com", "INBOX", "From: c@example.org\nSubject: changed subject\nMessage-ID: <r1@x>\nIn-Reply-To: <trip@x>\n\nx\n")
	h.deliver("ann@example.com", "INBOX", "From: d@example.org\nSubject: Re: RE: lunch\nMessage-ID: <r2@x>\n\nx\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	_, body := c.get(mailboxURL(h.inbox("ann@example.com").ID) + "?view=conversations")
	var order []string
	for _, s := range []string{"Re: RE: lunch", "Lunch", "changed subject", "Trip"} {
		order = append(order, fmt.Sprint(strings.Contains(body, s+"<") || strings.Contains(body, s+" <")))
	}
	iLunchReply, iLunch, iChanged, iTrip := strings.Index(body, "Re: RE: lunch"), strings.Index(body, "Lunch"), strings.Index(body, "changed subject"), strings.Index(body, "Trip")
	if !(iLunchReply < iLunch && iLunch < iChanged && iChanged < iTrip) {
		t.Errorf("conversation order: %v %d %d %d %d", order, iLunchReply, iLunch, iChanged, iTrip)
	}
	if strings.Count(body, `class=" reply"`)+strings.Count(body, `class="unread reply"`) != 2 || strings.Count(body, `<span class="sub">(2)</span>`) != 2 {
		t.Errorf("conversations not grouped:\n%s", body)
	}
}

// Search goes through the whole folder (not only its newest messages) and
// pages its matches: a match among the oldest of 21,000 messages is found,
// and 60 matches are shown 50, then 10 behind "Older".
func TestSearchWholeFolder(t *testing.T) {
	h := newHarness(t, false, func(o *Options) { o.SearchTime = 10 * time.Minute }) // -race on a busy machine
	inbox := h.inbox("ann@example.com")
	var items []store.AppendItem
	for i := range 21000 {
		from := "someone@example.org"
		switch {
		case i == 0:
			from = "needle@example.org"
		case i%300 == 1:
			from = "often@example.org"
		}
		subj := fmt.Sprintf("message %d", i)
		items = append(items, store.AppendItem{Body: []byte(simpleMessage(from, "ann@example.com", subj, "text")), Date: time.Unix(int64(1e9+i), 0)})
	}
	if _, err := h.st.AppendMany(context.Background(), inbox.ID, items); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	c.login("ann@example.com", "secret")
	m := itoa(uint64(inbox.ID))
	_, body := c.get("/search?m=" + m + "&q=" + url.QueryEscape("from:needle"))
	if !strings.Contains(body, ">message 0</a>") || strings.Count(body, `data-uid="`) != 1 {
		t.Errorf("the oldest message is not found:\n%s", body)
	}
	_, body = c.get("/search?m=" + m + "&q=" + url.QueryEscape("from:often"))
	if n := strings.Count(body, `data-uid="`); n != pageSize || !strings.Contains(body, ">message 20701</a>") {
		t.Errorf("first page: %d rows", n)
	}
	older := html.UnescapeString(between(body, `<a href="`, `" rel="next"`))
	if !strings.HasPrefix(older, "/search?") {
		t.Fatalf("no link to the older matches: %q", older)
	}
	_, body = c.get(older)
	if n := strings.Count(body, `data-uid="`); n != 70-pageSize || !strings.Contains(body, ">message 1</a>") || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page: %d rows\n%s", n, body)
	}
}

// A search that runs out of its time says how far it went and goes on,
// from where it stopped, behind "Older".
func TestSearchPauses(t *testing.T) {
	h := newHarness(t, false, func(o *Options) { o.SearchTime = time.Nanosecond })
	inbox := h.inbox("ann@example.com")
	var items []store.AppendItem
	for i := range 2 * search.Batch {
		items = append(items, store.AppendItem{Body: []byte(simpleMessage("a@example.org", "ann@example.com", fmt.Sprintf("message %d", i), "x")), Date: time.Unix(int64(1e9+i), 0)})
	}
	if _, err := h.st.AppendMany(context.Background(), inbox.ID, items); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	c.login("ann@example.com", "secret")
	// Each request does one batch of the folder at least (the deadline is
	// checked after each), newest first: the first has none of the
	// matches (1, 10-19, 100-199, 1000-1999), the next a page of them.
	_, body := c.get("/search?m=" + itoa(uint64(inbox.ID)) + "&q=" + url.QueryEscape(`subject:"message 1"`))
	if n := strings.Count(body, `data-uid="`); n != 0 || !strings.Contains(body, fmt.Sprintf("0 found in the %d messages searched so far", search.Batch)) {
		t.Fatalf("first request: %d rows\n%s", n, body)
	}
	older := html.UnescapeString(between(body, `<a href="`, `" rel="next"`))
	if !strings.Contains(older, fmt.Sprintf("before=%d", 2*search.Batch-search.Batch+1)) {
		t.Fatalf("the link to go on: %q", older)
	}
	_, body = c.get(older)
	if n := strings.Count(body, `data-uid="`); n != pageSize || !strings.Contains(body, ">message 1999</a>") || strings.Contains(body, "searched so far") {
		t.Errorf("going on: %d rows\n%s", n, body)
	}
}

// The conversation view threads the whole folder: a reply arriving after
// 80 other messages is shown with its original (which the plain list has
// on the second page), pages go back and forth, and a message delivered
// or deleted later is seen at the next view.
func TestConversationsAcrossFolder(t *testing.T) {
	h := newHarness(t, false)
	h.deliver("ann@example.com", "INBOX", "From: a@example.org\nSubject: Plans\nMessage-ID: <plans@x>\n\nx\n")
	for i := range 80 {
		h.deliver("ann@example.com", "INBOX", fmt.Sprintf("From: n@example.org\nSubject: note %d\nMessage-ID: <n%d@x>\n\nx\n", i, i))
	}
	h.deliver("ann@example.com", "INBOX", "From: b@example.org\nSubject: other words\nMessage-ID: <r@x>\nReferences: <plans@x>\n\nx\n")
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox := h.inbox("ann@example.com")
	_, body := c.get(mailboxURL(inbox.ID) + "?view=conversations")
	iReply, iPlans, iNote := strings.Index(body, ">other words"), strings.Index(body, "Plans</a>"), strings.Index(body, ">note 79")
	if iReply < 0 || iPlans < 0 || !(iReply < iPlans && iPlans < iNote) || !strings.Contains(body, `<span class="sub">(2)</span>`) {
		t.Fatalf("the reply is not shown with its original: %d %d %d\n%s", iReply, iPlans, iNote, body)
	}
	if n := strings.Count(body, `data-uid="`); n != pageSize {
		t.Errorf("first page: %d rows", n)
	}
	older := html.UnescapeString(between(body, `<a href="`, `" rel="next"`))
	_, body2 := c.get(older)
	if !strings.Contains(body2, ">note 0</a>") || strings.Contains(body2, "Plans</a>") || strings.Contains(body2, ">note 79</a>") || strings.Contains(body2, `rel="next"`) {
		t.Errorf("second page (%s):\n%s", older, body2)
	}
	newer := html.UnescapeString(between(body2, `<a href="`, `" rel="prev"`))
	if _, back := c.get(newer); strings.Count(back, `data-uid="`) != pageSize || !strings.Contains(back, ">other words") {
		t.Errorf("back to the first page (%s):\n%s", newer, back)
	}
	// Changes: a second reply joins, the first reply goes.
	h.deliver("ann@example.com", "INBOX", "From: c@example.org\nSubject: Re: Plans\nMessage-ID: <r2@x>\nIn-Reply-To: <plans@x>\n\nx\n")
	if _, err := h.st.Expunge(context.Background(), inbox.ID, []store.UID{82}); err != nil {
		t.Fatal(err)
	}
	_, body = c.get(mailboxURL(inbox.ID) + "?view=conversations")
	if strings.Contains(body, ">other words") || !strings.Contains(body, `<span class="sub">(2)</span>`) || !(strings.Index(body, "Re: Plans") < strings.Index(body, "↳ Plans")) {
		t.Errorf("after the changes:\n%s", body)
	}
	// Only new messages: only they are read, and they join.
	h.deliver("ann@example.com", "INBOX", "From: d@example.org\nSubject: other words again\nMessage-ID: <r3@x>\nReferences: <plans@x> <r2@x>\n\nx\n")
	_, body = c.get(mailboxURL(inbox.ID) + "?view=conversations")
	if !strings.Contains(body, `<span class="sub">(3)</span>`) || !(strings.Index(body, "other words again") < strings.Index(body, "↳ Re: Plans")) {
		t.Errorf("after a new reply:\n%s", body)
	}
}

// A refused send keeps its attachments: the form comes back with them
// checked to be kept (saved with the message in Drafts), and sending
// again, fixed, sends them; a form error (a bad address) keeps them too.
func TestRefusedSendKeepsAttachments(t *testing.T) {
	for _, tc := range []struct {
		name, to, reason string
	}{
		{"refused by submission", "nobody@example.com", "Not sent: "},
		{"bad address", "bob@example.com, <<not an address", "is not a list of addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, false)
			c := h.client()
			c.login("ann@example.com", "secret")
			c.get("/compose")
			resp, body := c.postMultipart("/send", url.Values{"to": {tc.to}, "subject": {"the plan"}, "body": {"attached"}}, map[string]string{"plan.txt": "the plan itself"})
			if resp.StatusCode/100 != 4 && resp.StatusCode/100 != 5 || !strings.Contains(body, tc.reason) || !strings.Contains(body, "Your attachments are kept") {
				t.Fatalf("refusal: %d\n%s", resp.StatusCode, body)
			}
			if !strings.Contains(body, `checked> Keep plan.txt`) || !strings.Contains(body, `value="`+html.EscapeString(tc.to)+`"`) {
				t.Fatalf("the form shown again lacks the attachment or the typed address:\n%s", body)
			}
			if n := h.mbx("ann@example.com", "Drafts").Messages; n != 1 {
				t.Fatalf("%d drafts", n)
			}
			draft := regexp.MustCompile(`name="draft" value="([^"]+)"`).FindStringSubmatch(body)[1]
			keep := between(body, `name="keep" value="`, `" checked> Keep plan.txt`)
			resp, _ = c.postMultipart("/send", url.Values{"to": {"bob@example.com"}, "subject": {"the plan"}, "body": {"attached"}, "draft": {draft}, "keep": {keep}}, nil)
			if resp.StatusCode != http.StatusSeeOther || h.inbox("bob@example.com").Messages != 1 || h.mbx("ann@example.com", "Drafts").Messages != 0 {
				t.Fatalf("sending again: %d, bob has %d, drafts %d", resp.StatusCode, h.inbox("bob@example.com").Messages, h.mbx("ann@example.com", "Drafts").Messages)
			}
			var got string
			h.st.ReadContent(h.inbox("bob@example.com").ID, 1, func(c *store.Content, _ *store.Part) error { got = string(c.Slice(0, c.Size())); return nil })
			if !strings.Contains(got, "filename=plan.txt") || !strings.Contains(got, "dGhlIHBsYW4gaXRzZWxm") {
				t.Errorf("the attachment was not sent:\n%s", got)
			}
		})
	}
}

// The conversations' cache keeps at most its bound of messages: the folder
// viewed longest ago goes first; views of several folders at once are
// safe (-race).
func TestThreadCacheBound(t *testing.T) {
	h := newHarness(t, false)
	h.web.threads = newThreadCache(3)
	for _, box := range []string{"INBOX", "Archive"} {
		for i := range 2 {
			h.deliver("ann@example.com", box, fmt.Sprintf("Subject: %s %d\n\nx\n", box, i))
		}
	}
	c := h.client()
	c.login("ann@example.com", "secret")
	inbox, archive := h.inbox("ann@example.com"), h.mbx("ann@example.com", "Archive")
	var wg sync.WaitGroup
	for range 4 {
		for _, m := range []store.MailboxID{inbox.ID, archive.ID} {
			c := h.client() // a browser each: the test client is not safe for concurrent use
			c.login("ann@example.com", "secret")
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, _ := c.get(mailboxURL(m) + "?view=conversations"); resp.StatusCode != http.StatusOK {
					t.Errorf("%d", resp.StatusCode)
				}
			}()
		}
	}
	wg.Wait()
	c.get(mailboxURL(archive.ID) + "?view=conversations")
	tc := h.web.threads
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.folders) != 1 || tc.folders[archive.ID] == nil || tc.folders[archive.ID].n != 2 {
		t.Errorf("cache holds %d folders", len(tc.folders))
	}
}

// A search by sender, recipient or subject reads the folder's cached
// fields; a message delivered after they were read has its header read,
// and a field the cache does not keep is not served from it.
func TestCachedSearch(t *testing.T) {
	h := newHarness(t, false)
	h.deliver("ann@example.com", "INBOX", "From: Alice <alice@example.org>\nSubject: one\n\nx\n")
	inbox := h.inbox("ann@example.com")
	crit := parseQuery("from:alice").criteria()
	if c := h.web.cachedSearch(inbox, crit); c != nil {
		t.Fatalf("a search made the cache")
	}
	if _, _, err := h.web.threads.folder(h.web.st, inbox); err != nil { // the conversation view's
		t.Fatal(err)
	}
	cached := h.web.cachedSearch(inbox, crit)
	if cached == nil {
		t.Fatalf("no cache for from:")
	}
	late := h.deliver("ann@example.com", "INBOX", "From: Bob <bob@example.org>\nTo: ann@example.com\nSubject: two\n\nx\n")
	var got []string
	err := cached([]store.UID{late, 1, 99}, func(uid store.UID, vals map[string]string) {
		got = append(got, fmt.Sprintf("%d %q %q", uid, vals["from"], vals["subject"]))
	})
	want := []string{fmt.Sprintf("%d %q %q", late, "\x00bob <bob@example.org>", "\x00two"), `1 "\x00alice <alice@example.org>" "\x00one"`}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, want %q (%v)", got, want, err)
	}
	if c := h.web.cachedSearch(inbox, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Other", Value: "v"}}}); c != nil {
		t.Errorf("X-Other served from the cache")
	}
}

// headersOnly is the web mail's Store for a reader that must need no
// message's decoded structure.
type headersOnly struct {
	Store
	t *testing.T
}

func (s headersOnly) ReadContents(store.MailboxID, []store.UID, func(store.UID, *store.Content, *store.Part) error) error {
	s.t.Error("ReadContents called: the conversations read whole messages, not their top headers")
	return errors.New("ReadContents called")
}

// The conversation view reads each message's top header alone (the
// store's header reads, as search's batches), never its decoded
// structure, and finds in it what threading and the cached search fields
// need.
func TestConversationsReadHeadersOnly(t *testing.T) {
	h := newHarness(t, false)
	h.deliver("ann@example.com", "INBOX", "From: A <a@example.org>\nTo: ann@example.com\nSubject: Plans\nDate: Mon, 30 Nov 2026 10:00:00 +0000\nMessage-ID: <plans@x>\n\nx\n")
	h.deliver("ann@example.com", "INBOX", "From: b@example.org\nSubject: =?utf-8?q?Re=3A_Plans_=C3=A9t=C3=A9?=\nDate: Tue, 1 Dec 2026 10:00:00 +0000\nMessage-ID: <r@x>\nIn-Reply-To: <plans@x>\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n")
	inbox := h.inbox("ann@example.com")
	convos, items, err := h.web.threads.folder(headersOnly{h.st, t}, inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(convos) != 1 || !slices.Equal(convos[0].uids, []store.UID{2, 1}) {
		t.Fatalf("conversations %+v, want one of 2 and 1", convos)
	}
	plans, reply := items[1], items[2]
	if plans.MessageID != "plans@x" || plans.Subject != "plans" || plans.Date.Day() != 30 || !strings.Contains(plans.fields[0], "a@example.org") {
		t.Errorf("first message: %+v", plans)
	}
	if !slices.Equal(reply.Refs, []string{"plans@x"}) || !reply.IsReply || reply.Subject != "plans été" || reply.fields[3] != "\x00re: plans été" {
		t.Errorf("reply: %+v", reply)
	}
}
