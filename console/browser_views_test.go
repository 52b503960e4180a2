package console

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/console/consoletest"

	"github.com/chromedp/chromedp"
)

// page is one headless chromium tab on a test console.
type page struct {
	*consoletest.Page
	t    *testing.T
	ctx  context.Context
	base string
}

func openPage(t *testing.T, e *env, path string) *page {
	t.Helper()
	ensureChromium(t)
	p := consoletest.OpenPage(t, e.base+path)
	return &page{Page: p, t: t, ctx: p.Ctx, base: e.base}
}

func (p *page) do(name string, a chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	p.Do(name, a)
}

// poll waits until the page-side expression is true.
func (p *page) poll(name, expr string) {
	p.t.Helper()
	p.Poll(name, expr)
}

func (p *page) keys(name, keys string) { p.t.Helper(); p.do(name, chromedp.KeyEvent(keys)) }

func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// setRange sets a view's from/to inputs to the hour around the fake
// engine's clock (2026-11-28) and runs reload.
func setRange(p *page, from, to string, now time.Time, reload string) {
	p.t.Helper()
	f, u := now.Add(-time.Hour).UnixMilli(), now.Add(time.Minute).UnixMilli()
	eval[any](p, fmt.Sprintf(`document.querySelector(%q).value = localInput(%d); document.querySelector(%q).value = localInput(%d); %s; true`,
		from, f, to, u, reload))
}

// TestBrowserHistory: the Events pane shows events from before the page
// was loaded, and again after a reload.
func TestBrowserHistory(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	// An alarm that came and went before anyone looked: it is in no
	// snapshot, only in the journal.
	e.eng.raise("NH3-101:hi", alarms.Medium, 35)
	if resp, b := e.req("POST", "/api/alarms/NH3-101:hi/ack", tokOperator, `{"comment":"night shift"}`); resp.StatusCode != 200 {
		t.Fatalf("ack: %d %s", resp.StatusCode, b)
	}
	e.eng.clear("NH3-101:hi")
	p := openPage(t, e, "/?lang=en&token="+tokViewer)
	past := `document.querySelector('#log li[data-seq="1"]') !== null && document.querySelector('#log li[data-seq="3"]').textContent.includes('normal')`
	p.poll("past events shown on load", past)
	p.do("reload", chromedp.Reload())
	p.poll("connected again", `window.consoleState && window.consoleState.up`)
	p.poll("past events shown after a reload", past)
	// The alarm history view filters the journal.
	p.do("history view", chromedp.Navigate(e.base+"/?lang=en#history"))
	p.poll("history view shown", `!document.querySelector('#view-history').hidden`)
	setRange(p, "#hist-from", "#hist-to", e.eng.fake.Now(), "searchHistory()")
	p.poll("history table", `document.querySelectorAll('#hist-table tbody tr').length === 3 && document.querySelector('#hist-csv').href.includes('format=csv')`)
}

// TestBrowserKeyboardAndRecords: an operator acknowledges an alarm and
// records what was done with the keyboard alone; the disposal record is in
// the records CSV.
func TestBrowserKeyboardAndRecords(t *testing.T) {
	recs, err := OpenRecords(t.TempDir(), RecordsOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer recs.Close()
	e := start(t, testConfig(true), Deps{Records: recs}, Options{})
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	p := openPage(t, e, "/?lang=en&token="+tokOperator)
	row := `document.querySelector('tr[data-id="NH3-101:hihi"]')`
	p.poll("alarm shown", row+` !== null && `+row+`.dataset.state === 'unack'`)
	p.keys("select the first alarm", "j")
	p.poll("row selected", `document.activeElement && document.activeElement.dataset.id === 'NH3-101:hihi'`)
	p.keys("acknowledge", "a")
	p.poll("ack dialog", `document.querySelector('#dlg').open && document.activeElement.id === 'dlg-text'`)
	p.keys("comment and enter", "gas checked\r")
	p.poll("alarm acked", row+`.dataset.state === 'acked'`)
	e.eng.mu.Lock()
	last := e.eng.cmds[len(e.eng.cmds)-1]
	e.eng.mu.Unlock()
	if last.Op != alarms.OpAck || last.Comment != "gas checked" || last.By != "zhang" {
		t.Errorf("engine got %+v", last)
	}
	p.poll("focus back on the row", `!document.querySelector('#dlg').open && document.activeElement.dataset.id === 'NH3-101:hihi'`)
	p.keys("record action", "r")
	p.poll("dispose dialog", `document.querySelector('#dlg').open && document.activeElement.id === 'dlg-action'`)
	p.keys("action", "exhaust fan on\tconcentration down\r")
	p.poll("dialog closed", `!document.querySelector('#dlg').open`)
	_, b := e.get("/api/records?format=csv", tokViewer)
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows[1:] {
		found = found || (r[3] == "dispose" && r[4] == "NH3-101:hihi" && r[8] == "exhaust fan on" && r[9] == "concentration down" && r[1] == "zhang")
	}
	if !found || len(rows) != 3 {
		t.Errorf("records csv %q: want the ack and the disposal", rows)
	}
	// The shift handover shows who did what.
	p.do("handover", chromedp.Navigate(e.base+"/?lang=en#handover"))
	p.poll("handover lists the records", `[...document.querySelectorAll('#ho-records tbody tr')].some((r) => r.textContent.includes('exhaust fan on'))`)
}

// TestBrowserColours: rows are coloured by priority (high red, medium
// amber, low yellow-brown, faults yellow).
func TestBrowserColours(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	for _, a := range []struct {
		id   string
		prio alarms.Priority
	}{{"NH3-101:hihi", alarms.High}, {"NH3-101:hi", alarms.Medium}, {"FIRE-Z1:on", alarms.Low}, {"TK-101.LT:comm", alarms.Low}} {
		e.eng.raise(a.id, a.prio, 1)
		if resp, b := e.req("POST", "/api/alarms/"+a.id+"/ack", tokOperator, `{}`); resp.StatusCode != 200 { // steady: no flashing
			t.Fatalf("ack %s: %d %s", a.id, resp.StatusCode, b)
		}
	}
	p := openPage(t, e, "/?lang=en&token="+tokViewer)
	p.poll("rows", `document.querySelectorAll('tr[data-state="acked"]').length === 4`)
	colour := func(id string) string {
		return eval[string](p, fmt.Sprintf(`getComputedStyle(document.querySelector('tr[data-id=%q] td')).borderLeftColor`, id))
	}
	high, med, low, fault := colour("NH3-101:hihi"), colour("NH3-101:hi"), colour("FIRE-Z1:on"), colour("TK-101.LT:comm")
	if high != "rgb(208, 2, 27)" || med != "rgb(255, 152, 0)" || low != "rgb(184, 134, 11)" || fault != "rgb(245, 196, 0)" {
		t.Errorf("colours high %s, medium %s, low %s, fault %s", high, med, low, fault)
	}
	// Acknowledged rows are steady; a new unacknowledged one flashes.
	if a := eval[string](p, `getComputedStyle(document.querySelector('tr[data-id="NH3-101:hihi"]')).animationName`); a != "none" {
		t.Errorf("acked row animates: %s", a)
	}
	e.eng.clear("NH3-101:hihi")
	e.eng.raise("NH3-101:hihi", alarms.High, 70)
	e.eng.clear("NH3-101:hihi")
	p.poll("cleared, unacknowledged", `document.querySelector('tr[data-id="NH3-101:hihi"][data-state="rtn_unack"]') !== null`)
	if a := eval[string](p, `getComputedStyle(document.querySelector('tr[data-id="NH3-101:hihi"]')).animationName`); a != "flash-hollow" {
		t.Errorf("cleared-unack row animation %q, want flash-hollow", a)
	}
}

// TestBrowserReport: the report page draws its plots.
func TestBrowserReport(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	for range 12 { // a flood
		e.eng.raise("NH3-101:hi", alarms.Medium, 40)
		e.eng.clear("NH3-101:hi")
	}
	p := openPage(t, e, "/?lang=en&token="+tokViewer+"#report")
	p.poll("report view", `window.consoleState.reportDrawn === true`) // the last 24 h: nothing in the fake's past
	setRange(p, "#rep-from", "#rep-to", e.eng.fake.Now(), "(window.consoleState.reportDrawn = false, loadReport())")
	p.poll("report drawn", `window.consoleState.reportDrawn === true`)
	// Pixels of the bars (red: above the flood line) and of the lines.
	red := eval[bool](p, `(() => { const c = document.querySelector('#rep-rate'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		for (let i = 0; i < d.length; i += 4) if (d[i] === 208 && d[i+1] === 2 && d[i+2] === 27) return true; return false; })()`)
	if !red {
		t.Error("no flood-coloured pixels in the rate plot")
	}
	if n := eval[float64](p, `window.consoleState.report.activations`); n != 12 {
		t.Errorf("report activations %v, want 12", n)
	}
}
