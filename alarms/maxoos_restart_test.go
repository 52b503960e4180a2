package alarms

import (
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// TestMaxOOSRearmsAfterRestart: a point taken out of service, then the
// gateway restarted (kill -9: the journal is reopened as it was left), comes
// back in service by itself at its original deadline (oos time +
// console.max_oos), not max_oos after the restart and not never; whether
// the restart replays the segments or starts from a snapshot.
func TestMaxOOSRearmsAfterRestart(t *testing.T) {
	for name, opts := range map[string]JournalOptions{
		"replay":   {NoSync: true},
		"snapshot": {NoSync: true, SegmentBytes: 1, SeqBlock: 1}, // every batch rotates and snapshots
	} {
		t.Run(name, func(t *testing.T) { maxOOSRestart(t, opts) })
	}
}

func maxOOSRestart(t *testing.T, opts JournalOptions) {
	dir := t.TempDir()
	cfg := parseScenarioConfig(t, engineConfig)
	cfg.Console.MaxOOS = configs.Duration(10 * time.Minute)
	now := scenarioStart
	_, e := journaledEngine(t, cfg, dir, opts, &now)
	e.step([]item{{samples: []drivers.Sample{sample("NH3-101", 70, now)}}}, nil)
	now = now.Add(time.Minute)
	oosAt := now
	r := &request{c: Command{Op: OpOOS, Point: "NH3-101", Comment: "calibration"}, reply: make(chan reply, 1)}
	e.step([]item{{cmd: r}}, nil)
	if rep := <-r.reply; rep.err != nil {
		t.Fatalf("oos: %v", rep.err)
	}

	now = scenarioStart.Add(5 * time.Minute) // restart
	j2, e2 := journaledEngine(t, cfg, dir, opts, &now)
	defer j2.Close()
	oos := 0
	for _, ev := range e2.Alarms() {
		if ev.Point == "NH3-101" && ev.State == OOS {
			oos++
		}
	}
	if oos == 0 {
		t.Fatalf("after the restart no alarm of NH3-101 is out of service: %v", e2.Alarms())
	}
	deadline := oosAt.Add(10 * time.Minute)
	e2.m.Advance(deadline.Add(-time.Millisecond))
	if got := e2.m.Take(); len(got) != 0 {
		t.Fatalf("back in service before the deadline: %s", describe(got[0]))
	}
	e2.m.Advance(deadline)
	got := e2.m.Take()
	if len(got) != oos {
		t.Fatalf("at the original deadline %d events, want %d (every alarm of the point back in service): %v", len(got), oos, got)
	}
	for _, ev := range got {
		if ev.Point != "NH3-101" || ev.OOS || ev.State == OOS || !ev.Time.Equal(deadline) {
			t.Errorf("at the deadline: %s, want NH3-101 back in service at %s", describe(ev), deadline)
		}
	}
}
