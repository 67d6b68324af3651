package webmail

import (
	"context"
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
