package console

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserNotices drives the notice panel in a real headless chromium:
// a notice from the district appears (in Chinese, the page's default
// language), an operator acknowledges it with a comment and it goes; the
// acknowledgement is the operator's. A viewer sees a notice without the
// button.
func TestBrowserNotices(t *testing.T) {
	rec, err := OpenRecords(t.TempDir(), RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	ns := OpenNotices(rec, "SQ-TEST")
	e := start(t, testConfig(true), Deps{Records: rec, Notices: ns}, Options{})
	p := openPage(t, e, "/?token="+tokOperator)
	p.poll("connected as operator, no notice panel", `window.consoleState && window.consoleState.up && `+
		`window.consoleState.role === 'operator' && document.querySelector('#notices-pane').hidden`)

	if err := ns.Receive("D-7", "SQ-TEST", "立即检查氨压缩机房通风", "chen", time.Now()); err != nil {
		t.Fatal(err)
	}
	item := `#notices li[data-notice="D-7"]`
	p.poll("the notice appears with its text, sender and button", `!document.querySelector('#notices-pane').hidden && `+
		`document.querySelector('#notices-pane h2').textContent.includes('督办通知') && `+
		`document.querySelector('`+item+`') !== null && document.querySelector('`+item+`').textContent.includes('立即检查氨压缩机房通风') && `+
		`document.querySelector('`+item+`').textContent.includes('chen') && `+
		`document.querySelector('`+item+` button[data-act="notice-ack"]').textContent === '签收'`)
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, "console-notice.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	p.do("comment", chromedp.SendKeys(chromedp.CSS(item+" input"), "风机已开"))
	p.do("acknowledge", chromedp.Click(chromedp.CSS(item+` button[data-act="notice-ack"]`)))
	p.poll("the notice goes", `document.querySelector('`+item+`') === null && document.querySelector('#notices-pane').hidden`)
	if got := ns.List(10); len(got) != 1 || !got[0].Acked || got[0].AckedBy != "zhang" || got[0].Comment != "风机已开" {
		t.Fatalf("notice after the page's acknowledgement: %+v", got)
	}

	if err := ns.Receive("D-8", "SQ-TEST", "report the tank levels", "chen", time.Now()); err != nil {
		t.Fatal(err)
	}
	p.do("as viewer", chromedp.Navigate(e.base+"/?lang=en&token="+tokViewer))
	p.poll("a viewer sees the notice without the button", `window.consoleState && window.consoleState.up && `+
		`window.consoleState.role === 'viewer' && document.querySelector('#notices li[data-notice="D-8"]') !== null && `+
		`document.querySelector('#notices-pane h2').textContent.includes('District notices') && `+
		`document.querySelectorAll('#notices button').length === 0`)
}
