package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"petrel/dnsmx/dnsmxtest"
	"petrel/internal/browsertest"
)

// The web mail in Chromium, against a running petrel: ann logs in, opens
// a message, replies to it with an attachment; bob, logged in in another
// browser, sees the reply arrive in his INBOX without a reload, with the
// unread count in the title; ann moves a message and flags it, which an
// IMAP client sees; a message to a domain whose server does not answer
// shows in ann's outbox as deferred, with its attempt. Screenshots of the
// pages go to $WEBMAIL_SCREENSHOTS (docs/webmail).
func TestWebMailInBrowser(t *testing.T) {
	dns := dnsmxtest.Start(t,
		"far.example. 300 IN MX 10 mx.far.example.",
		"mx.far.example. 300 IN A 127.0.0.9",
	)
	extra := fmt.Sprintf("[dns]\nresolver = %q\n[queue]\nport = %s\nretry = [\"1h\"]\n", dns.Addr, strings.Split(freePort(t), ":")[1])
	in := newInstanceWith(t, instanceOpts{hostname: "mx.example.com", domain: "example.com", imapAddr: freePort(t), extra: extra})
	in.petrel("ann-password\n", "user", "add", "ann@example.com")
	in.petrel("bob-password\n", "user", "add", "bob@example.com")
	in.start()
	base := "http://" + in.httpAddr
	submit(t, in.subAddr, "bob@example.com", "bob-password", "ann@example.com",
		"From: Bob <bob@example.com>\r\nTo: ann@example.com\r\nSubject: Plans for Friday\r\n\r\nShall we meet at the harbour at 10? Map: https://example.com/map\r\n")
	submit(t, in.subAddr, "bob@example.com", "bob-password", "ann@example.com",
		"From: Bob <bob@example.com>\r\nTo: ann@example.com\r\nSubject: Minutes\r\n\r\nThe minutes of Monday.\r\n")

	ann := browsertest.New(t, 3*time.Minute)
	bob := browsertest.New(t, 3*time.Minute)
	browsertest.Login(t, ann, base, "ann@example.com", "ann-password")
	browsertest.Login(t, bob, base, "bob@example.com", "bob-password")
	browsertest.WaitTrue(t, bob, 10*time.Second, "bob's live connection", `document.body.dataset.connected === "1"`)
	browsertest.WaitTrue(t, ann, 10*time.Second, "two unread in the title", `document.title.startsWith("(2) Inbox")`)
	browsertest.Screenshot(t, ann, "inbox")

	// Open the message: its text, with the link made a link; it is read.
	browsertest.ClickAndLoad(t, ann, `table.messages a[href$="/1"]`)
	text, err := chromedp.Run(ann, chromedp.Text(chromedp.CSS("pre.text")))
	if err != nil || !strings.Contains(text, "harbour at 10") {
		t.Fatalf("message text %q: %v", text, err)
	}
	if n, err := chromedp.Run(ann, chromedp.Evaluate[int](`document.querySelectorAll('pre.text a[href="https://example.com/map"]').length`)); err != nil || n != 1 {
		t.Errorf("link not made clickable: %d %v", n, err)
	}
	browsertest.Screenshot(t, ann, "message")

	// Reply with an attachment.
	browsertest.ClickAndLoad(t, ann, `a[data-key="r"]`)
	file := filepath.Join(t.TempDir(), "agenda.txt")
	os.WriteFile(file, []byte("1. coffee\n2. boats\n"), 0o644)
	if err := chromedp.Do(ann,
		chromedp.SetValue(chromedp.ID("body"), "Yes, see you there. Agenda attached.\n"),
		chromedp.SetUploadFiles(chromedp.ID("attachments"), []string{file}),
	); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ann, "compose")
	browsertest.ClickAndLoad(t, ann, `button[value="send"]`)
	if flash, err := chromedp.Run(ann, chromedp.Text(chromedp.CSS(".flash"))); err != nil || !strings.Contains(flash, "Message sent") {
		t.Fatalf("after send: %q %v", flash, err)
	}

	// Bob's page, open all along, shows it without a reload.
	browsertest.WaitTrue(t, bob, 20*time.Second, "the reply in bob's list", `document.querySelector("table.messages").textContent.includes("Re: Plans for Friday")`)
	browsertest.WaitTrue(t, bob, 5*time.Second, "bob's title counts it", `document.title.startsWith("(1) ")`)
	browsertest.Screenshot(t, bob, "live")
	browsertest.ClickAndLoad(t, bob, `table.messages a`)
	if n, err := chromedp.Run(bob, chromedp.Evaluate[string](`document.querySelector(".attachments a").textContent`)); err != nil || n != "agenda.txt" {
		t.Errorf("bob's attachment: %q %v", n, err)
	}

	// Ann moves "Minutes" to Archive and flags it there.
	browsertest.ClickAndLoad(t, ann, `nav.folders a[href^="/m/"]`)
	if err := chromedp.Do(ann, chromedp.Click(chromedp.CSS(`input[name=uid][value="2"]`)),
		chromedp.SetValue(chromedp.ID("dest"), archiveID(t, ann))); err != nil {
		t.Fatal(err)
	}
	browsertest.ClickAndLoad(t, ann, `button[value="move"]`)
	browsertest.ClickAndLoad(t, ann, fmt.Sprintf(`nav.folders a[href="/m/%s"]`, archiveID(t, ann)))
	if err := chromedp.Do(ann, chromedp.Click(chromedp.CSS(`input[name=uid]`))); err != nil {
		t.Fatal(err)
	}
	browsertest.ClickAndLoad(t, ann, `button[value="flag"]`)
	browsertest.Screenshot(t, ann, "archive")
	c, err := imapclient.DialInsecure(in.imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("ann@example.com", "ann-password").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("Archive", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("Archive over IMAP: %v, %+v", err, sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "Minutes" || !slices.Contains(msgs[0].Flags, imap.FlagFlagged) {
		t.Errorf("Archive's message over IMAP: %v %+v", err, msgs)
	}
	if st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait(); err != nil || *st.NumMessages != 1 || *st.NumUnseen != 0 {
		t.Errorf("INBOX over IMAP: %v %+v", err, st)
	}
	sent, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *sent.NumMessages != 1 {
		t.Errorf("Sent over IMAP: %v", err)
	}

	// A message to a server that does not answer: deferred, in the outbox.
	if err := chromedp.Do(ann, chromedp.Navigate(base+"/compose"),
		chromedp.SendKeys(chromedp.ID("to"), "carol@far.example"),
		chromedp.SendKeys(chromedp.ID("subject"), "Boat trip"),
		chromedp.SetValue(chromedp.ID("body"), "Are you coming?")); err != nil {
		t.Fatal(err)
	}
	browsertest.ClickAndLoad(t, ann, `button[value="send"]`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := chromedp.Do(ann, chromedp.Navigate(base+"/outbox")); err != nil {
			t.Fatal(err)
		}
		cells, _ := chromedp.Run(ann, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".outbox-item tbody tr td")].map(td => td.textContent)`))
		// Recipient, state, attempts, server, last reply, next try.
		if len(cells) == 6 && cells[0] == "carol@far.example" && cells[1] == "pending" && cells[2] != "0" && cells[4] != "" && cells[5] != "" {
			t.Logf("outbox: %q", cells)
			break
		}
		row := strings.Join(cells, " | ")
		if time.Now().After(deadline) {
			t.Fatalf("outbox never showed an attempt: %q", row)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := chromedp.Do(ann, chromedp.Click(chromedp.CSS("details.attempts summary"))); err != nil {
		t.Fatal(err)
	}
	if log, err := chromedp.Run(ann, chromedp.Text(chromedp.CSS("details.attempts li"))); err != nil || !strings.Contains(log, "mx.far.example: ") || !strings.Contains(log, "connection refused") {
		t.Errorf("attempt log: %q %v", log, err)
	}
	browsertest.Screenshot(t, ann, "outbox")

	// On a phone's narrow screen nothing is wider than the screen.
	for _, path := range []string{"/", "/compose", "/m/1/1"} {
		if err := chromedp.Do(ann, chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+path)); err != nil {
			t.Fatal(err)
		}
		if w, err := chromedp.Run(ann, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); err != nil || w > 0 {
			t.Errorf("%s on a narrow screen: %d pixels too wide (%v)", path, w, err)
		}
		if path == "/" {
			browsertest.Screenshot(t, ann, "phone")
		}
	}
}

// archiveID is the id of the Archive folder, from the page's sidebar.
func archiveID(t *testing.T, ctx context.Context) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("nav.folders a")].find(a => a.textContent.trim().startsWith("Archive")).getAttribute("href").slice(3)`))
	if err != nil || id == "" {
		t.Fatalf("Archive's id: %v", err)
	}
	return id
}
