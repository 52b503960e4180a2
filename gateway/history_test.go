package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

type trendView struct {
	Point   string `json:"point"`
	Samples []struct {
		Value float64 `json:"value"`
		Time  string  `json:"time"`
	} `json:"samples"`
}

// waitTrend polls /api/history for NH3-101 until ok holds for it.
func waitTrend(t *testing.T, p *proc, base string, within time.Duration, what string, ok func(trendView) bool) trendView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		select {
		case <-p.done:
			t.Fatalf("gateway exited (code %d) while waiting for %s", p.code, what)
		default:
		}
		var tr trendView
		getJSON(t, base+"/api/history?point=NH3-101&since=1h", &tr)
		if ok(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; trend: %+v", what, within, tr)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// TestTrendSurvivesRestart: without InfluxDB, the samples of a trend are
// still there after SIGTERM and a restart (store.dir/history.bin).
func TestTrendSurvivesRestart(t *testing.T) {
	site := newSimSite(t, 12.5)

	p := site.start(t)
	before := waitTrend(t, p, site.base, 15*time.Second, "three samples", func(tr trendView) bool { return len(tr.Samples) >= 3 })
	oldest := before.Samples[0].Time
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if _, err := os.Stat(filepath.Join(site.dir, "var", "history.bin")); err != nil {
		t.Fatalf("no history file after SIGTERM: %v", err)
	}

	p = site.start(t)
	waitTrend(t, p, site.base, 15*time.Second, "sample of "+oldest+" after the restart", func(tr trendView) bool {
		return len(tr.Samples) > 0 && tr.Samples[0].Time == oldest
	})
	if !p.logged("trend history loaded", 5*time.Second) {
		t.Error("no log line for the loaded history")
	}
}
