package webmail

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"petrel/internal/browsertest"
	"petrel/store"
)

// canary is a server that hostile mail tries to reach: any request it
// gets is mail making the browser talk to the network.
type canary struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []string
	hit  chan string
}

func newCanary(t *testing.T) *canary {
	c := &canary{hit: make(chan string, 100)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits = append(c.hits, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		select {
		case c.hit <- r.URL.Path:
		default:
		}
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *canary) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hits)
}

// The corpus of hostile HTML mail (testdata/hostile) opened in Chromium
// runs no script and makes no request to the network; with images allowed
// for one message, its images do load (which shows the canary works).
func TestHostileHTMLInBrowser(t *testing.T) {
	h := newHarness(t, false)
	cn := newCanary(t)
	cu, _ := url.Parse(cn.srv.URL)
	files, err := filepath.Glob("testdata/hostile/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var uids []store.UID
	images := store.UID(0)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "CANARYHOST", cu.Host)
		s = strings.ReplaceAll(s, "CANARY", cn.srv.URL)
		uid := h.deliver("ann@example.com", "INBOX", s)
		uids = append(uids, uid)
		if strings.Contains(f, "images") {
			images = uid
		}
	}
	ctx := browsertest.New(t, 2*time.Minute)
	var mu sync.Mutex
	var dialogs, requests []string
	evctx, stop := context.WithCancel(ctx)
	defer stop()
	dlg := chromedp.Events(evctx, cdppage.JavascriptDialogOpening)
	reqs := chromedp.Events(evctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range dlg {
			if err != nil {
				return
			}
			mu.Lock()
			dialogs = append(dialogs, ev.Message)
			mu.Unlock()
			chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for ev, err := range reqs {
			if err != nil {
				return
			}
			mu.Lock()
			requests = append(requests, ev.Request.URL)
			mu.Unlock()
		}
	}()
	browsertest.Login(t, ctx, h.srv.URL, "ann@example.com", "secret")
	inbox := h.inbox("ann@example.com")
	for _, uid := range uids {
		u := h.srv.URL + messageURL(inbox.ID, uid)
		// The page (its load event waits for the frame and its images),
		// then each HTML part opened on its own, as a link would.
		if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
			t.Fatalf("open %s: %v", u, err)
		}
		for _, sec := range []string{"1", "2"} {
			if err := chromedp.Do(ctx, chromedp.Navigate(u+"/html?part="+sec)); err != nil {
				t.Fatalf("open %s part %s: %v", u, sec, err)
			}
		}
		// Hover and click what the mail offers, in the frame.
		chromedp.Do(ctx, chromedp.Navigate(u+"/html?part=1"))
		chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('a,button,div').forEach(e => { try { e.dispatchEvent(new MouseEvent('mouseover')) } catch (x) {} })`))
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+mailboxURL(inbox.ID))); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "hostile-list")
	if hits := cn.seen(); len(hits) > 0 {
		t.Errorf("hostile mail reached the network: %v", hits)
	}
	mu.Lock()
	if len(dialogs) > 0 {
		t.Errorf("hostile mail ran script (dialogs %v)", dialogs)
	}
	for _, r := range requests {
		if !strings.HasPrefix(r, h.srv.URL+"/") && !strings.HasPrefix(r, "data:") { // data: reaches no network
			t.Errorf("the browser requested %s", r)
		}
	}
	mu.Unlock()
	// With images allowed for that message, they load: the canary sees it.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+messageURL(inbox.ID, images)+"?images=1")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-cn.hit:
		if !strings.HasSuffix(p, ".gif") && !strings.HasSuffix(p, ".png") && !strings.HasSuffix(p, ".webp") {
			t.Errorf("allowed images: request for %s", p)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("allowed images did not load")
	}
}

// Keyboard and screen reader, in Chromium: the page's landmarks, a label
// for every field, the shortcuts (j moves and focuses the row's link, o
// opens, u goes back, / goes to the search box, whose answer comes from
// the server's search, ? shows the list of shortcuts), and the
// conversation view grouping a reply with its original across pages.
func TestKeyboardAndLandmarksInBrowser(t *testing.T) {
	h := newHarness(t, false)
	h.deliver("ann@example.com", "INBOX", "From: Bob <bob@example.com>\nSubject: Plans\nMessage-ID: <plans@x>\n\nthe harbour at ten\n")
	for i := range 60 {
		h.deliver("ann@example.com", "INBOX", fmt.Sprintf("From: n@example.org\nSubject: note %d\n\nx\n", i))
	}
	h.deliver("ann@example.com", "INBOX", "From: Carol <carol@example.org>\nSubject: Re: Plans\nIn-Reply-To: <plans@x>\n\nyes\n")
	inbox := h.inbox("ann@example.com")
	ctx := browsertest.New(t, 2*time.Minute)
	browsertest.Login(t, ctx, h.srv.URL, "ann@example.com", "secret")

	// Landmarks, and a label (or aria-label) for every visible field.
	for _, p := range []string{mailboxURL(inbox.ID), messageURL(inbox.ID, 1), "/compose", "/folders", "/outbox", "/settings"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+p)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[
			document.querySelector("body > header") ? "" : "no banner",
			document.querySelector("nav[aria-label]") ? "" : "no navigation",
			document.querySelector("main") ? "" : "no main",
			document.querySelector("[role=search]") ? "" : "no search",
			...[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
				.filter(el => !el.hidden && el.labels.length === 0 && !el.getAttribute("aria-label"))
				.map(el => "unlabelled " + (el.id || el.name)),
		].filter(s => s)`))
		if err != nil || len(got) > 0 {
			t.Errorf("%s: %v %v", p, got, err)
		}
	}

	key := func(k string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.KeyEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+mailboxURL(inbox.ID))); err != nil {
		t.Fatal(err)
	}
	key("j")
	key("j")
	browsertest.WaitTrue(t, ctx, 5*time.Second, "j focuses the second row's link",
		`document.activeElement.closest("tr[data-uid]") === document.querySelectorAll("tr[data-uid]")[1]`)
	key("o")
	browsertest.WaitTrue(t, ctx, 5*time.Second, "o opens the message", `location.pathname === "`+messageURL(inbox.ID, 61)+`"`)
	browsertest.WaitTrue(t, ctx, 5*time.Second, "the message page", `document.readyState === "complete" && !!document.querySelector("article.message")`)
	key("u")
	browsertest.WaitTrue(t, ctx, 5*time.Second, "u goes back", `location.pathname === "`+mailboxURL(inbox.ID)+`" && document.readyState === "complete"`)
	key("?")
	browsertest.WaitTrue(t, ctx, 5*time.Second, "? shows the shortcuts", `document.getElementById("keys").open`)
	key("/")
	browsertest.WaitTrue(t, ctx, 5*time.Second, "/ focuses the search box", `document.activeElement.id === "q"`)
	// (DevTools' key events type the "/" into the box even so: a keyboard's
	// does not, the key being taken.)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("q"), "harbour")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.SendKeys(chromedp.ID("q"), "\r"))); err != nil {
		t.Fatal(err)
	}
	if rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("td.subject a")].map(a => a.textContent)`)); err != nil || !slices.Equal(rows, []string{"Plans"}) {
		t.Errorf("search harbour: %q %v", rows, err)
	}
	browsertest.Screenshot(t, ctx, "search")

	// Conversations: the reply with its original, though 60 messages
	// came between them.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+mailboxURL(inbox.ID)+"?view=conversations")); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("td.subject a")].slice(0, 2).map(a => a.textContent.replace(/\s+/g, " ").trim())`))
	if err != nil || len(rows) != 2 || rows[0] != "Re: Plans (2)" || rows[1] != "in the same conversation: ↳ Plans" {
		t.Errorf("conversation view: %q %v", rows, err)
	}
	browsertest.Screenshot(t, ctx, "conversations")
}
