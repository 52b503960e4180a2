package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hazardgw/internal/testenv"
)

// reloadConfig is simConfig with an admin and an operator, a second point
// CO-102 on GC-1 (80 ppm, hi 50: in alarm) when withCO, NH3-101's hihi at
// hihi, and a second simulated controller GC-2 on its own address that
// every variant leaves alone.
func reloadConfig(t *testing.T, dir, console, addr1, addr2 string, hihi float64, withCO bool) string {
	t.Helper()
	co := ""
	if withCO {
		co = `
  [[device.point]]
  id = "CO-102"
  unit = "ppm"
  register = "holding"
  address = 1
  type = "uint16"
  hi = 50.0
    [device.point.sim]
    kind = "constant"
    value = 80.0
`
	}
	extra := co + simDevice("GC-2", addr2) + `
  [[device.point]]
  id = "H2S-201"
  unit = "ppm"
  register = "holding"
  address = 0
  type = "uint16"
  hi = 10.0
    [device.point.sim]
    kind = "constant"
    value = 5.0
` + consoleUsers("ops", "operator", "op-token", "eng", "admin", "admin-token")
	path := simConfig(t, dir, console, addr1, 45, extra)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "hihi = 60.0", fmt.Sprintf("hihi = %.1f", hihi), 1)
	return writeFile(t, dir, "gw.toml", s)
}

type healthView struct {
	Devices []struct {
		ID     string  `json:"id"`
		State  string  `json:"state"`
		LastOK *string `json:"last_ok"`
	} `json:"devices"`
}

// TestReload is SPEC §12 on the real binary: a SIGHUP with a valid file
// keeps alarm state and seq, applies a changed limit, ends a removed
// alarm with "removed by reload", keeps an unchanged device polling and
// gives websocket clients a fresh snapshot; an invalid file through
// POST /api/reload changes nothing and says why, in the answer and the log.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	console, addr1, addr2 := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	cfg := reloadConfig(t, dir, console, addr1, addr2, 60, true)
	base := "http://" + console
	p := startHealthy(t, dir, cfg, console)

	// Before: NH3-101 at 45 ppm is above hi (30), below hihi (60); CO-102
	// at 80 ppm is above its hi.
	nh3Hi := waitAlarm(t, p, base, "NH3-101:hi", "unack", 20*time.Second)
	waitAlarm(t, p, base, "CO-102:hi", "unack", 20*time.Second)
	waitDeviceUp(t, p, base, "GC-2", 20*time.Second)
	ws := dialWS(t, "ws://"+console+"/ws", http.Header{"Authorization": {"Bearer op-token"}})
	ws.until("snapshot")
	var before []alarmView
	getJSON(t, base+"/api/alarms", &before)
	var maxSeq uint64
	for _, a := range before {
		maxSeq = max(maxSeq, a.Seq)
	}

	// SIGHUP with hihi lowered to 40 and CO-102 removed (GC-1 changes,
	// GC-2 does not).
	reloadConfig(t, dir, console, addr1, addr2, 40, false)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The fresh snapshot comes once the reload is applied.
	snap, _ := ws.until("snapshot")
	for _, pt := range pointsOf(toMaps(snap["points"])) {
		if pt["point"] == "CO-102" {
			t.Errorf("snapshot after reload still lists the removed point CO-102")
		}
	}
	// An unchanged device kept polling: it never went back to "never
	// answered" (a restarted device reports down and no last_ok until its
	// first poll).
	var h healthView
	getJSON(t, base+"/api/health", &h)
	for _, d := range h.Devices {
		if d.ID == "GC-2" && (d.State != "up" || d.LastOK == nil) {
			t.Errorf("GC-2 after reload: %+v, want up with last_ok (polling without a gap)", d)
		}
	}
	if !p.logged("kept=1", 5*time.Second) {
		t.Errorf("the modbus driver did not keep GC-2's bus running; log:\n%s", p.output())
	}

	// The changed limit applies: 45 ppm is now above hihi.
	hihi := waitAlarm(t, p, base, "NH3-101:hihi", "unack", 20*time.Second)
	if hihi.Seq <= maxSeq {
		t.Errorf("NH3-101:hihi seq %d after reload, want after %d (seq continues)", hihi.Seq, maxSeq)
	}
	// The alarm that still exists keeps its state and its event.
	var after []alarmView
	getJSON(t, base+"/api/alarms", &after)
	kept := false
	for _, a := range after {
		if a.ID == "NH3-101:hi" {
			kept = a.State == "unack" && a.Seq == nh3Hi.Seq
		}
		if strings.HasPrefix(a.ID, "CO-102:") {
			t.Errorf("removed alarm still current: %+v", a)
		}
	}
	if !kept {
		t.Errorf("NH3-101:hi after reload: want unack with seq %d; alarms %+v", nh3Hi.Seq, after)
	}
	// The removed alarm ended with a last event.
	var evs []struct {
		Seq     uint64 `json:"seq"`
		ID      string `json:"id"`
		State   string `json:"state"`
		Comment string `json:"comment"`
	}
	getJSON(t, fmt.Sprintf("%s/api/events?after=%d&limit=100", base, maxSeq), &evs)
	removed := false
	for _, ev := range evs {
		if ev.ID == "CO-102:hi" {
			removed = ev.State == "normal" && ev.Comment == "removed by reload" && ev.Seq == maxSeq+1
		}
	}
	if !removed {
		t.Errorf("no normal \"removed by reload\" event with seq %d for CO-102:hi; events after %d: %+v", maxSeq+1, maxSeq, evs)
	}

	// POST /api/reload: admin only.
	if code, _, b := call(t, "POST", base+"/api/reload", "op-token", ""); code != http.StatusForbidden {
		t.Errorf("reload as operator: %d %s, want 403", code, b)
	}
	// An invalid file changes nothing, and says so.
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "hihi = 40.0", "hihi = 40.0\n  hihhi = 20.0", 1)
	bad = strings.Replace(bad, `interval = "200ms"`, `interval = "fast"`, 1)
	writeFile(t, dir, "gw.toml", bad)
	seqBefore := currentSeq(t, base)
	code, _, b := call(t, "POST", base+"/api/reload", "admin-token", "")
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("reload of an invalid file: %d %s, want 422", code, b)
	}
	ans := decode[struct {
		OK     bool     `json:"ok"`
		Errors []string `json:"errors"`
	}](t, "reload answer", b)
	if ans.OK || len(ans.Errors) != 2 || !strings.Contains(strings.Join(ans.Errors, "\n"), "hihhi") ||
		!strings.Contains(strings.Join(ans.Errors, "\n"), "interval") {
		t.Errorf("reload answer %+v: want ok false and both errors (hihhi, interval)", ans)
	}
	for _, e := range ans.Errors {
		// The text log quotes a message holding quotes.
		if !p.logged(strconv.Quote("reload: "+e), 5*time.Second) {
			t.Errorf("error %q not logged", e)
		}
	}
	if !p.logged("reload refused", 5*time.Second) {
		t.Errorf("log does not say the reload was refused:\n%s", p.output())
	}
	if s := currentSeq(t, base); s != seqBefore {
		t.Errorf("seq moved from %d to %d on a refused reload", seqBefore, s)
	}
	waitAlarm(t, p, base, "NH3-101:hihi", "unack", time.Second)

	// A change only a restart applies refuses the whole file.
	writeFile(t, dir, "gw.toml", strings.Replace(string(good), `name = "Test plant"`, `name = "Renamed"`, 1))
	code, _, b = call(t, "POST", base+"/api/reload", "admin-token", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "[site] changed") {
		t.Errorf("reload with a changed [site]: %d %s, want 422 naming [site]", code, b)
	}

	// The good file again: 200 {"ok": true}.
	writeFile(t, dir, "gw.toml", string(good))
	if code, _, b := call(t, "POST", base+"/api/reload", "admin-token", ""); code != 200 || strings.TrimSpace(string(b)) != `{"ok":true}` {
		t.Errorf("reload of a valid file: %d %s, want 200 {\"ok\":true}", code, b)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

func waitDeviceUp(t *testing.T, p *proc, base, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var h healthView
		getJSON(t, base+"/api/health", &h)
		for _, d := range h.Devices {
			if d.ID == id && d.State == "up" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("device %s not up within %v", id, within)
}

func currentSeq(t *testing.T, base string) uint64 {
	t.Helper()
	var evs []struct {
		Seq uint64 `json:"seq"`
	}
	getJSON(t, base+"/api/events?after=0&limit=100000", &evs)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

func toMaps(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
