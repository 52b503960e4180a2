package alarms

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// An alarm re-annunciated at the end of a shelf escalates from that moment
// (shelve_escalation.txt); after a restart it must keep that schedule, not
// fall back to its first activation and escalate at once.
func TestRestoreEscalationAfterUnshelve(t *testing.T) {
	cfg := parseScenarioConfig(t, engineConfig)
	m, _ := NewMachine(cfg, scenarioStart)
	at := func(d time.Duration) time.Time { return scenarioStart.Add(d) }
	m.Sample(at(0), sample("NH3-101", 70, at(0)))
	if _, err := m.Command(at(time.Minute), Command{Op: OpShelve, Alarm: "NH3-101:hihi", For: 3 * time.Minute, Comment: "test"}); err != nil {
		t.Fatal(err)
	}
	m.Advance(at(4 * time.Minute)) // the shelf ends: unack, stage 0, ladder from 4m
	evs := append([]Event(nil), m.Take()...)
	if last := evs[len(evs)-1]; last.State != Unack || last.Stage != 0 || !last.Time.Equal(at(4*time.Minute)) {
		t.Fatalf("re-annunciation %s", describe(last))
	}
	restart := at(5 * time.Minute)
	m2, _ := NewMachine(cfg, restart)
	for _, ev := range evs {
		m2.Restore(ev, restart)
	}
	m2.Advance(at(6*time.Minute - time.Millisecond))
	if got := m2.Take(); len(got) != 0 {
		t.Fatalf("escalated early after restart: %s", describe(got[0]))
	}
	m2.Advance(at(6 * time.Minute))
	got := m2.Take()
	if len(got) != 1 || got[0].Stage != 1 || !got[0].Time.Equal(at(6*time.Minute)) {
		t.Fatalf("after restart: %v", got)
	}
}

// journaledEngine opens the journal in dir and an engine of cfg on it whose
// clock reads *now.
func journaledEngine(t *testing.T, cfg *configs.Config, dir string, opts JournalOptions, now *time.Time) (*Journal, *Engine) {
	t.Helper()
	j, err := OpenJournal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, j, Options{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return j, e
}

// The snapshot written at a segment rotation holds each alarm's last
// journaled event (seq, time), so a restart from it shows the alarms as
// they were emitted and keeps their escalation schedule.
func TestEngineSnapshotKeepsLastEvents(t *testing.T) {
	dir := t.TempDir()
	cfg := parseScenarioConfig(t, engineConfig)
	opts := JournalOptions{SegmentBytes: 1, NoSync: true, SeqBlock: 1} // every batch rotates and snapshots; the exact seq after kill -9
	now := scenarioStart
	j, e := journaledEngine(t, cfg, dir, opts, &now)
	step := func(it item) {
		e.step([]item{it}, nil)
	}
	step(item{samples: []drivers.Sample{sample("NH3-101", 70, now)}}) // seq 1, unack
	now = now.Add(time.Minute)
	step(item{cmd: &request{c: Command{Op: OpShelve, Alarm: "NH3-101:hihi", For: 3 * time.Minute, Comment: "t"}, reply: make(chan reply, 1)}})
	now = now.Add(3 * time.Minute)
	step(item{samples: []drivers.Sample{sample("NH3-101", 71, now)}}) // expiry at 4m: seq 3, unack again
	now = now.Add(time.Second)
	step(item{samples: []drivers.Sample{sample("NH3-101", 72, now)}}) // no event
	bad := drivers.Sample{Point: "NH3-101", Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now}
	step(item{samples: []drivers.Sample{bad, bad, bad}}) // comm unack: seq 4, a new segment, a snapshot
	if e.Seq() != 4 || j.snapSeq != 4 {
		t.Fatalf("seq %d, snapshot at %d; want 4 and 4", e.Seq(), j.snapSeq)
	}
	// kill -9 at 5m; the segments the snapshot covers may be gone.
	now = scenarioStart.Add(5 * time.Minute)
	j2, e2 := journaledEngine(t, cfg, dir, opts, &now)
	defer j2.Close()
	var hihi Event
	for _, ev := range e2.Alarms() {
		if ev.ID == "NH3-101:hihi" {
			hihi = ev
		}
	}
	if hihi.Seq != 3 || hihi.State != Unack || !hihi.Time.Equal(scenarioStart.Add(4*time.Minute)) {
		t.Fatalf("restored %s", describe(hihi))
	}
	e2.m.Advance(scenarioStart.Add(6*time.Minute - time.Millisecond))
	if got := e2.m.Take(); len(got) != 0 {
		t.Fatalf("escalated early after restart: %s", describe(got[0]))
	}
	e2.m.Advance(scenarioStart.Add(6 * time.Minute))
	if got := e2.m.Take(); len(got) != 1 || got[0].Seq != 5 || got[0].Stage != 1 || strings.Join(got[0].Notify, ",") != "operator,commander,platform" {
		t.Fatalf("stage 1 after restart: %v", got)
	}
}

// An alarm taken out of service forgets its escalation targets (they got
// the oos event); a restart must not bring them back.
func TestRestoreOOSForgetsNotify(t *testing.T) {
	cfg := parseScenarioConfig(t, engineConfig)
	m, _ := NewMachine(cfg, scenarioStart)
	m.Sample(scenarioStart, sample("NH3-101", 70, scenarioStart))
	if _, err := m.Command(scenarioStart.Add(time.Second), Command{Op: OpOOS, Point: "NH3-101", Comment: "calibration"}); err != nil {
		t.Fatal(err)
	}
	evs := append([]Event(nil), m.Take()...)
	m2, _ := NewMachine(cfg, scenarioStart.Add(time.Minute))
	for _, ev := range evs {
		m2.Restore(ev, scenarioStart.Add(time.Minute))
	}
	for _, mm := range []*Machine{m, m2} {
		ev, err := mm.Command(scenarioStart.Add(2*time.Minute), Command{Op: OpIOS, Point: "NH3-101"})
		if err != nil || ev.ID != "NH3-101:hihi" || len(ev.Notify) != 0 {
			t.Fatalf("ios event %s, %v: want no notify targets", describe(ev), err)
		}
	}
}

// In a flood the snapshot is deferred until at least as many events were
// journaled since the last one as it holds (write amplification ≤ 1), and
// a restart in between still restores every alarm: replay reads the
// segments the last snapshot does not cover.
func TestEngineSnapshotDeferredInFlood(t *testing.T) {
	const n = 20
	var b strings.Builder
	b.WriteString("[site]\nid = \"S\"\n[[device]]\nid = \"D\"\ndriver = \"modbus\"\n")
	for i := range n {
		fmt.Fprintf(&b, "  [[device.point]]\n  id = \"P%02d\"\n  hi = 10.0\n  stale = \"1h\"\n", i)
	}
	cfg := parseScenarioConfig(t, b.String())
	dir := t.TempDir()
	opts := JournalOptions{SegmentBytes: 1, NoSync: true} // every append starts a segment
	now := scenarioStart
	j, e := journaledEngine(t, cfg, dir, opts, &now)
	batch := func(v float64, pts ...int) item {
		var ss []drivers.Sample
		for _, i := range pts {
			ss = append(ss, sample(fmt.Sprintf("P%02d", i), v, now))
		}
		return item{samples: ss}
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	e.step([]item{batch(20, all...)}, nil) // the flood: n hi alarms, seq 1..n, first segment
	now = now.Add(time.Second)
	e.step([]item{batch(0, 0)}, nil) // P00 returns, seq n+1, a new segment: n+1 events since ≥ n alarms: snapshot
	if e.Seq() != n+1 || j.snapSeq != n+1 {
		t.Fatalf("seq %d, snapshot at %d; want %d and %d", e.Seq(), j.snapSeq, n+1, n+1)
	}
	for i := 1; i < 3; i++ {
		now = now.Add(time.Second)
		e.step([]item{batch(0, i)}, nil) // P01, P02 return: a new segment each, 1 and 2 events since
		if j.snapSeq != n+1 {
			t.Fatalf("snapshot of %d alarms rewritten at seq %d after %d event(s)", n, j.snapSeq, i)
		}
	}

	// kill -9: restart from the snapshot and the segment after it.
	j2, e2 := journaledEngine(t, cfg, dir, opts, &now)
	defer j2.Close()
	if e2.Seq() < n+3 { // continues after the journal's Floor, at or past the last record
		t.Fatalf("restored seq %d, want at least %d", e2.Seq(), n+3)
	}
	got := map[string]State{}
	for _, ev := range e2.Alarms() {
		got[ev.ID] = ev.State
	}
	for i := range n {
		id, want := fmt.Sprintf("P%02d:hi", i), Unack
		if i < 3 {
			want = RtnUnack
		}
		if got[id] != want {
			t.Errorf("%s restored %v, want %v", id, got[id], want)
		}
	}
}

// SPEC §5 chatter across a restart (issue #13): five activations before a
// kill -9 and one after are six within 60 s, so the clearing after the
// restart is held, as it would have been without the restart; it clears
// once the condition has stayed gone for 60 s. The activation history
// comes back from the journal (each activation's emitted time); a reload
// (SPEC §12) carries it, and a held clearing, to the new machine.
func TestRestoreChatterHistory(t *testing.T) {
	cfg := pointsConfig(t, `
  [[device.point]]
  id = "FIRE-Z1"
  alarm_on = true
  stale = "1h"
`)
	for _, tc := range []struct {
		name         string
		restart      bool
		reload, held bool // reload after the fifth activation, or after the held clearing
	}{
		{name: "without restart"},
		{name: "restart after the fifth activation", restart: true},
		{name: "reload after the fifth activation", reload: true},
		{name: "reload while the clearing is held", held: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			now := scenarioStart
			j, e := journaledEngine(t, cfg, dir, JournalOptions{NoSync: true}, &now)
			at := func(d time.Duration) { now = scenarioStart.Add(d) }
			input := func(v float64) []Event {
				t.Helper()
				e.step([]item{{samples: []drivers.Sample{sample("FIRE-Z1", v, now)}}}, nil)
				return append([]Event(nil), e.pending...)
			}
			for i := range 5 { // activations at 0, 10, 20, 30, 40 s
				at(time.Duration(i) * 10 * time.Second)
				input(1)
				at(time.Duration(i)*10*time.Second + 5*time.Second)
				input(0)
			}
			if tc.restart {
				at(45 * time.Second)
				j.Close()
				j, e = journaledEngine(t, cfg, dir, JournalOptions{NoSync: true}, &now)
			}
			defer j.Close()
			reload := func() {
				t.Helper()
				m, err := e.m.Reload(cfg, e.current, now)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Take(); len(got) != 0 {
					t.Fatalf("reload: %v", got)
				}
				e.m = m
			}
			if tc.reload {
				reload()
			}
			at(50 * time.Second)
			if got := input(1); len(got) != 1 || got[0].State != Unack {
				t.Fatalf("sixth activation: %v", got)
			}
			at(55 * time.Second)
			if got := input(0); len(got) != 0 {
				t.Fatalf("clearing of a chattering alarm not held: %s", describe(got[0]))
			}
			if tc.held {
				at(56 * time.Second)
				reload()
			}
			now = scenarioStart.Add(115 * time.Second) // gone for 60 s
			e.m.Advance(now)
			if got := e.m.Take(); len(got) != 1 || got[0].State != RtnUnack || !got[0].Time.Equal(now) {
				t.Fatalf("held clearing after 60 s: %v", got)
			}
		})
	}
}
