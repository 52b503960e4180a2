package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// ensureChromium installs Debian's chromium when it is missing, or fails
// the test loudly.
func ensureChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	out, err := exec.Command("apt-get", "install", "-y", "chromium").CombinedOutput()
	if err != nil {
		out2, err2 := exec.Command("sh", "-c", "apt-get update && apt-get install -y chromium").CombinedOutput()
		if err2 != nil {
			t.Fatalf("chromium is missing and apt-get install -y chromium failed: %v\n%s\n%s", err2, out, out2)
		}
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("apt-get installed chromium but %s is still missing", chromiumPath)
	}
}

// TestBrowser loads the page in a real headless chromium from a console fed
// by the fake engine: a value changes, an alarm appears, the operator
// acknowledges it and the row turns acked. It saves a screenshot to
// $ARTIFACTS_DIR (or the test's temp dir) and, with CONSOLE_DOCS_PNG=1, to
// docs/console.png.
func TestBrowser(t *testing.T) {
	ensureChromium(t)
	now := time.Now()
	hist := func(_ context.Context, p drivers.PointID, from, to time.Time) ([]drivers.Sample, error) {
		var out []drivers.Sample
		for i := range 120 {
			at := from.Add(time.Duration(i) * to.Sub(from) / 120)
			v := 20 + 15*float64(i)/120
			out = append(out, sample(string(p), v, at))
		}
		return out, nil
	}
	e := start(t, testConfig(true), Deps{History: hist}, Options{})
	e.eng.samples([]drivers.Sample{sample("NH3-101", 12.5, now), sample("TK-101.LT", 71.3, now),
		{Point: "FIRE-Z1", Value: 0, Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now}})

	bctx := openPage(t, e, "/?lang=en&token="+tokOperator).ctx
	step := func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	poll := func(name, expr string) {
		t.Helper()
		step(name, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr)(ctx, tg)
			return chromedp.Void{}, err
		})
	}
	card := `document.querySelector('.pt[data-point="NH3-101"] .val')`
	poll("banner connected as operator", `document.querySelector('#banner').classList.contains('up') && window.consoleState.role === 'operator'`)
	poll("the fire-alarm table has the alarm table's columns",
		`[...document.querySelectorAll('#fire-alarms thead th')].map((th) => th.dataset.i18n).join() === 'prio,time,alarm,state,value,actions'`)
	poll("first value", card+` && `+card+`.textContent.includes('12.5')`)
	poll("comm failure shown as its cause, not a number", `document.querySelector('.pt[data-point="FIRE-Z1"] .bad') !== null`)

	e.eng.samples([]drivers.Sample{sample("NH3-101", 47.25, time.Now())})
	poll("value change", card+`.textContent.includes('47.25')`)

	e.eng.samples([]drivers.Sample{sample("NH3-101", 61.5, time.Now())})
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	e.eng.raise("TK-101.LT:comm", alarms.Low, 0)
	row := `tr[data-id="NH3-101:hihi"]`
	poll("alarm appears unacknowledged", `document.querySelector('`+row+`[data-state="unack"]') !== null`)
	// The alarm list is redrawn on every alarm event: find and click in one
	// page-side call (a node found by one DevTools call may be gone at the
	// next).
	poll("click acknowledge", `(() => { const b = document.querySelector('`+row+` button[data-act="ack"]'); if (!b) return false; b.click(); return true; })()`)
	step("comment", chromedp.SendKeys(chromedp.CSS("#dlg-text"), "checked on site"))
	step("confirm", chromedp.Click(chromedp.CSS("#dlg-ok")))
	poll("alarm turns acked", `document.querySelector('`+row+`[data-state="acked"]') !== null`)
	e.eng.mu.Lock()
	last := e.eng.cmds[len(e.eng.cmds)-1]
	e.eng.mu.Unlock()
	if last.Op != alarms.OpAck || last.By != "zhang" || last.Comment != "checked on site" {
		t.Errorf("engine got %+v, want ack by zhang with the comment", last)
	}
	// Nobody acknowledged the comm alarm: it escalates to the operators,
	// and this operator's page says so.
	e.eng.escalate("TK-101.LT:comm", "operator", "platform")
	poll("escalation shown to the role it names",
		`document.querySelector('tr[data-id="TK-101.LT:comm"] .stage.mine') !== null`)
	// The server drops the page's connection; an alarm happens while it
	// is away: the page reconnects by itself, resumes and shows it.
	if err := e.srv.hub.call(context.Background(), func() {
		for c := range e.srv.hub.clients {
			e.srv.hub.unregister(c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	e.eng.mu.Lock()
	e.eng.flood = true
	e.eng.mu.Unlock()
	e.eng.raise("FIRE-Z1:on", alarms.Urgent, 1)
	poll("reconnected", `document.querySelector('#banner').classList.contains('up') && window.consoleState.seq >= `+
		fmt.Sprint(e.eng.Seq()))
	poll("alarm raised while away is shown", `document.querySelector('tr[data-id="FIRE-Z1:on"][data-state="unack"]') !== null`)
	poll("flood indicator", `!document.querySelector('#flood').hidden`)
	poll("horn sounding for the new alarm", `!document.querySelector('#silence').disabled`)
	step("silence", chromedp.Click(chromedp.CSS("#silence")))
	poll("silenced until the next new alarm", `document.querySelector('#silence').disabled`)
	// The flood ends: the next event no longer carries flood (omitted
	// when false) and the sign goes away.
	e.eng.mu.Lock()
	e.eng.flood = false
	e.eng.mu.Unlock()
	e.eng.clear("FIRE-Z1:on")
	poll("flood sign gone after the flood", `document.querySelector('#flood').hidden`)

	// A point whose stale alarm goes active is shown as stale, never as
	// its last value.
	e.eng.mu.Lock()
	old := e.eng.now.Add(-time.Minute)
	e.eng.mu.Unlock()
	e.eng.samples([]drivers.Sample{sample("TK-101.LT", 71.3, old)})
	tank := `document.querySelector('.pt[data-point="TK-101.LT"] .val')`
	poll("tank value", tank+`.textContent.includes('71.3')`)
	e.eng.raise("TK-101.LT:stale", alarms.Low, 71.3)
	poll("stale point shows STALE, not a number", tank+`.textContent === 'STALE'`)

	// The point cards are redrawn with every samples frame: click page-side.
	poll("open trend", `(() => { const el = document.querySelector('.pt[data-point="NH3-101"]'); if (!el) return false; el.click(); return true; })()`)
	poll("trend visible", `!document.querySelector('#trend-pane').hidden`)

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "console.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if os.Getenv("CONSOLE_DOCS_PNG") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "console.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
