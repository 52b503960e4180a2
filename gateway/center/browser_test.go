package center

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazardgw/console/consoletest"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// TestBrowser loads the district page in a real headless chromium (the
// Debian package at /usr/bin/chromium, as the console's browser tests use):
// the sites at a glance, a site's alarms and samples on selection, a
// commander's notice sent and its acknowledgement shown, a site going
// offline. It saves a screenshot to $ARTIFACTS_DIR (or the temp dir).
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(consoletest.Chromium); err != nil {
		t.Fatalf("chromium missing (scripts/test installs it): %v", err)
	}
	b := mqtttest.StartMosquitto(t)
	urls := []string{b.URL}
	c := startCenter(t, centerConfig(t, urls, t.TempDir(), ""))
	a := newTestSite(t, urls, "SITE-A")
	z := newTestSite(t, urls, "SITE-Z")
	a.status("online")
	z.status("online")
	a.raise(5) // event 5 escalates to commander
	a.sample("NH3-101", 12.5)
	c.waitSeqs(t, "SITE-A", 5)

	p := consoletest.OpenPage(t, c.srv.URL+"/?token=commander-token-0123456789")
	do := p.Do
	poll := func(name, expr string) { t.Helper(); p.Poll(name, "!!("+expr+")") }
	row := func(site string) string { return `document.querySelector('#sites tr[data-site="` + site + `"]')` }
	poll("connected as commander", `document.querySelector('#banner').classList.contains('up') && document.querySelector('#who').textContent.includes('commander')`)
	poll("both sites listed", row("SITE-A")+` && `+row("SITE-Z"))
	poll("SITE-A online with its escalation", row("SITE-A")+`.classList.contains('online') && `+row("SITE-A")+`.querySelector('.escalated').textContent.includes('P5:hi')`)
	poll("worst alarm shown", row("SITE-A")+`.querySelector('.worst').textContent.includes('urgent')`)

	do("select SITE-A", chromedp.Click(chromedp.CSS(`#sites tr[data-site="SITE-A"] td.site`)))
	poll("its alarms", `document.querySelectorAll('#detail-alarms tbody tr').length === 5`)
	poll("its latest sample", `document.querySelector('#detail-samples tr[data-point="NH3-101"]') && document.querySelector('#detail-samples tr[data-point="NH3-101"]').textContent.includes('12.5')`)
	a.raise(1)
	poll("a live alarm joins the table", `document.querySelectorAll('#detail-alarms tbody tr').length === 6`)

	poll("the notice form (commander)", `!document.querySelector('#notice-form').hidden`)
	do("notice text", chromedp.SendKeys(chromedp.CSS("#notice-text"), "Report the NH3 leak within 10 minutes"))
	do("send", chromedp.Click(chromedp.CSS("#notice-send")))
	poll("notice listed, open", `document.querySelector('#detail-notices tr.open') !== null`)
	testenv.WaitFor(t, 20*time.Second, "notice at the site", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.notices) == 1
	})
	a.mu.Lock()
	id := a.notices[0]["id"]
	a.mu.Unlock()
	ack, _ := json.Marshal(map[string]any{"id": id, "site": "SITE-A", "by": "zhang", "time": "2026-11-30T08:00:00.000Z", "comment": "valve closed"})
	a.publish("hazard/SITE-A/notices/ack", ack)
	poll("acknowledgement shown", `document.querySelector('#detail-notices tr.acked') && document.querySelector('#detail-notices tr.acked').textContent.includes('valve closed')`)

	z.status("offline")
	poll("SITE-Z offline", row("SITE-Z")+`.classList.contains('offline')`)

	png, err := chromedp.Run(p.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, "district.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
