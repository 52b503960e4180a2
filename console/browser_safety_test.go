package console

import (
	"testing"

	"hazardgw/alarms"
	"hazardgw/configs"

	"github.com/chromedp/chromedp"
)

// TestBrowserSafety drives the page's safety panel in a real headless
// chromium over the real linkage runner (linkEnvWith): a commander runs
// and releases a manual linkage through the panel's buttons and dialog; an
// operator sees the panel without run/release buttons, and a run sent
// anyway is refused; a vote shows its members and which of them count.
func TestBrowserSafety(t *testing.T) {
	cfg := testConfig(true)
	cfg.Votes = []configs.Vote{{ID: "ROOM1-NH3", Alarms: []string{"NH3-101:hihi", "TK-101.LT:hi", "FIRE-Z1:on"}, K: 2}}
	e, l := linkEnvWith(t, cfg)
	p := openPage(t, e, "/?lang=en&token="+tokCommander)

	valve := `tr[data-linkage="FEED-VALVE"]`
	p.poll("safety panel with both linkages", `!document.querySelector('#safety-pane').hidden && `+
		`document.querySelector('tr[data-linkage="EXH-FAN-1"][data-state="idle"]') !== null && `+
		`document.querySelector('`+valve+`[data-state="idle"]') !== null`)
	// The table is redrawn at every linkage, alarm and samples frame:
	// find and click in one page-side call.
	click := func(name, sel string) {
		t.Helper()
		p.poll(name, `(() => { const b = document.querySelector('`+sel+`'); if (!b || b.disabled) return false; b.click(); return true; })()`)
	}
	p.poll("an auto linkage that has not fired cannot be run or released",
		`document.querySelector('tr[data-linkage="EXH-FAN-1"] button[data-act="run"]').disabled && `+
			`document.querySelector('tr[data-linkage="EXH-FAN-1"] button[data-act="release"]').disabled`)
	click("run the manual valve", valve+` button[data-act="run"]`)
	p.poll("run dialog names the linkage", `document.querySelector('#link-dlg').open && document.querySelector('#link-target').textContent === 'FEED-VALVE'`)
	p.do("comment", chromedp.SendKeys(chromedp.CSS("#link-text"), "drill"))
	p.do("confirm", chromedp.Click(chromedp.CSS(`#link-form button[value="ok"]`)))
	p.poll("valve confirmed (no feedback configured), by the commander",
		`document.querySelector('`+valve+`[data-state="confirmed"]') !== null && !document.querySelector('#link-dlg').open && `+
			`document.querySelector('`+valve+`').textContent.includes('li')`)
	if v := view(t, l, "FEED-VALVE"); v.State != alarms.LinkConfirmed || v.By != "li" {
		t.Fatalf("runner after run: %+v, want confirmed by li", v)
	}
	click("release the valve", valve+` button[data-act="release"]`)
	p.poll("release dialog", `document.querySelector('#link-dlg').open`)
	p.do("comment", chromedp.SendKeys(chromedp.CSS("#link-text"), "all clear"))
	p.do("confirm", chromedp.Click(chromedp.CSS(`#link-form button[value="ok"]`)))
	p.poll("valve released", `document.querySelector('`+valve+`[data-state="released"]') !== null`)
	if v := view(t, l, "FEED-VALVE"); v.State != alarms.LinkReleased || v.By != "li" {
		t.Fatalf("runner after release: %+v, want released by li", v)
	}

	// A vote shows its members: one member active is not a vote.
	vote := `document.querySelector('[data-vote="ROOM1-NH3"]')`
	p.poll("vote with its three members", vote+` !== null && `+vote+`.textContent.includes('2oo3') && `+
		vote+`.querySelectorAll('.member').length === 3 && `+vote+`.querySelectorAll('.member.on').length === 0`)
	e.eng.raise("NH3-101:hihi", alarms.High, 61.5)
	p.poll("the active member is marked", vote+`.querySelector('.member.on') !== null && `+
		vote+`.querySelector('.member.on').textContent.includes('NH3-101:hihi') && `+vote+`.querySelectorAll('.member.on').length === 1`)

	// An operator sees the linkages but no run/release, and the server
	// refuses a run the page would not offer.
	p.do("as operator", chromedp.Navigate(e.base+"/?lang=en&token="+tokOperator))
	p.poll("operator connected", `window.consoleState && window.consoleState.up && window.consoleState.role === 'operator'`)
	p.poll("operator sees the linkages without buttons", `document.querySelector('`+valve+`[data-state="released"]') !== null && `+
		`document.querySelectorAll('#linkages button').length === 0`)
	p.poll("operator sees the vote's members", vote+` !== null && `+vote+`.querySelectorAll('.member.on').length === 1`)
	eval[any](p, `window.runResult = null; send({ type: "run", linkage: "FEED-VALVE", comment: "not mine" }).then(() => { window.runResult = "ok"; }, (e) => { window.runResult = String(e); }); true`)
	p.poll("operator's run refused", `window.runResult !== null && window.runResult.includes('forbidden')`)
	if v := view(t, l, "FEED-VALVE"); v.State != alarms.LinkReleased {
		t.Errorf("runner after the operator's run: %+v, want still released", v)
	}
}

// view is linkage id's state from the runner.
func view(t *testing.T, l *alarms.Linkages, id string) alarms.LinkView {
	t.Helper()
	for _, v := range l.Views() {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("no linkage %s", id)
	return alarms.LinkView{}
}
