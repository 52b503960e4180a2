package consoletest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is the browser the browser tests drive: Debian's package.
const Chromium = "/usr/bin/chromium"

// Page is one headless chromium tab of a browser test (the site console's
// and the district center's). Its browser ends with the test.
type Page struct {
	t   testing.TB
	Ctx context.Context // the tab: chromedp actions run on it
}

// OpenPage starts a headless Chromium (a fresh profile in a temporary
// directory, a 1400×900 window) and navigates to url; navigation failing
// fails the test.
func OpenPage(t testing.TB, url string) *Page {
	t.Helper()
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(Chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900))
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelB)
	// The first action starts the browser and binds it to its context:
	// bctx itself, not a shorter one.
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	return &Page{t: t, Ctx: bctx}
}

// Do runs one action within 20 s; an error fails the test, named.
func (p *Page) Do(name string, a chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		p.t.Fatalf("%s: %v", name, err)
	}
}

// Poll waits (20 s at most) until the page-side expression is true.
func (p *Page) Poll(name, expr string) {
	p.t.Helper()
	p.Do(name, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr)(ctx, tg)
		return chromedp.Void{}, err
	})
}
