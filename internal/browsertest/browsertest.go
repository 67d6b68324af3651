// Package browsertest runs headless Chromium (Debian's chromium) for the
// tests of the web mail, driven with chromedp. It owns the browser's
// flags: no sandbox (tests run as root), no GPU, no background network of
// its own (no updates, sync or first-run pages), a throw-away profile, so
// that every request the browser makes is one a page asked for.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"petrel/internal/testenv"
)

// New starts a browser and returns the context of its first tab, ended
// when the test ends. The context has a deadline of timeout.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	exe := testenv.RequireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so that a missing library fails here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// NewTab opens another tab (same profile, same cookies) of the browser of
// ctx.
func NewTab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return tab
}

// Screenshot saves a PNG of the page under the directory named by
// $WEBMAIL_SCREENSHOTS (the docs' pictures), or does nothing when it is not
// set.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("WEBMAIL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// Login logs the browser in to the web mail at base through its login form
// (fields username and password) and waits for the message list.
func Login(t testing.TB, ctx context.Context, base, user, password string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), user), chromedp.SendKeys(chromedp.ID("password"), password))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("form button[type=submit]"))))
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("table.messages")))
	}
	if err != nil {
		t.Fatalf("log in %s in the browser: %v", user, err)
	}
}

// ClickAndLoad clicks what sel finds and waits for the page it leads to.
func ClickAndLoad(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// WaitTrue waits until the JavaScript expression is true on the page,
// checking it every 50 ms (chromedp's Poll needs eval, which the web
// mail's Content-Security-Policy forbids), for at most d.
func WaitTrue(t testing.TB, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v (last error %v)", what, ctx.Err(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
