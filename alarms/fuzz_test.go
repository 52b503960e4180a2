package alarms

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hazardgw/drivers"
	"hazardgw/store/wal/waltest"
)

const fuzzConfig = `
[site]
id = "S"
[console]
max_shelve = "10m"
[escalation]
  [[escalation.stage]]
  after = "0s"
  notify = ["operator"]
  [[escalation.stage]]
  after = "20s"
  notify = ["commander"]
[[device]]
id = "D"
driver = "modbus"
comm_after = 2
  [[device.point]]
  id = "A"
  range = [0.0, 100.0]
  hi = 30.0
  hihi = 60.0
  lo = 10.0
  lolo = 5.0
  deadband = 2.0
  on_delay = "2s"
  off_delay = "3s"
  latch = true
  fault_delay = "1s"
  stale = "5s"
  [[device.point]]
  id = "B"
  roc = 2.0
  hi = 50.0
  stale = "4s"
  [[device.point]]
  id = "C"
  alarm_on = true
  stale = "6s"
`

// FuzzMachine feeds arbitrary samples, commands and time steps. The
// machine must not panic, seqs must increase by exactly one, and a point
// out of service produces no event other than its oos/ios transitions.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 0, 200, 0, 1, 0, 10, 0, 2, 0, 0, 0, 3, 1, 0, 0})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 255, 0, 4, 2, 1, 0, 6, 0, 0, 0, 0, 1, 128, 2})
	f.Add([]byte("oos then samples then ios then ack shelve reset"))
	f.Fuzz(func(t *testing.T, data []byte) { runFuzzOnce(t, data) })
}

func runFuzzOnce(t *testing.T, data []byte) {
	cfg := parseScenarioConfig(t, fuzzConfig)
	points := []string{"A", "B", "C"}
	conds := []string{"hihi", "hi", "lo", "lolo", "roc", "on", "fault", "comm", "stale"}
	{
		m, err := NewMachine(cfg, scenarioStart)
		if err != nil {
			t.Fatal(err)
		}
		now := scenarioStart
		var seq uint64
		oos := map[string]bool{}
		last := map[string]Event{}
		check := func(cmd *Command) {
			for _, ev := range m.Take() {
				if ev.Seq != seq+1 {
					t.Fatalf("seq %d after %d", ev.Seq, seq)
				}
				seq = ev.Seq
				if err := checkTransition(last[ev.ID], ev); err != nil {
					t.Fatalf("%s: %v", ev.ID, err)
				}
				last[ev.ID] = ev
				if oos[ev.Point] && (cmd == nil || (cmd.Op != OpOOS && cmd.Op != OpIOS) || cmd.Point != ev.Point) {
					t.Fatalf("event for an out-of-service point: %+v", ev)
				}
			}
		}
		for len(data) >= 4 {
			op, a, b, c := data[0], data[1], data[2], data[3]
			data = data[4:]
			p := points[int(a)%len(points)]
			now = now.Add(time.Duration(c%8) * 500 * time.Millisecond)
			m.Advance(now)
			check(nil)
			switch op % 8 {
			case 0, 1, 2: // sample
				v := float64(b) - 20
				if b == 255 {
					v = math.NaN()
				}
				s := drivers.Sample{Point: drivers.PointID(p), Value: v, Time: now}
				switch op / 8 % 4 {
				case 1:
					s.Quality, s.Cause = drivers.Uncertain, drivers.CauseRange
				case 2:
					s.Quality, s.Cause = drivers.Bad, drivers.CauseRange
				case 3:
					s.Quality, s.Cause = drivers.Bad, drivers.CauseComm
				}
				if op/32%2 == 1 { // sample stamped in the past
					s.Time = now.Add(-time.Duration(b) * time.Second)
				}
				m.Sample(now, s)
				check(nil)
			default:
				ops := []Op{OpAck, OpReset, OpShelve, OpUnshelve, OpOOS, OpIOS, "bogus"}
				cmd := Command{Op: ops[int(op/8)%len(ops)], Alarm: p + ":" + conds[int(b)%len(conds)], Point: p,
					For: time.Duration(b) * 5 * time.Second, Comment: []string{"", "reason"}[c%2]}
				_, err := m.Command(now, cmd)
				check(&cmd)
				if err == nil && cmd.Op == OpOOS {
					oos[p] = true
				}
				if err == nil && cmd.Op == OpIOS {
					oos[p] = false
				}
			}
		}
	}
}

// FuzzJournalOpen: whatever a crash or a broken disk leaves in a segment,
// opening the journal must not panic, must cut what does not check, and
// must append after what it kept.
func FuzzJournalOpen(f *testing.F) {
	seed := f.TempDir()
	j, err := OpenJournal(seed, JournalOptions{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	if err := j.Append([]Event{testEvent(1), testEvent(2)}); err != nil {
		f.Fatal(err)
	}
	j.Close()
	good, err := os.ReadFile(filepath.Join(seed, fmt.Sprintf("%020d.seg", 1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add(append(append([]byte(nil), good...), 1, 2, 3))
	f.Add([]byte{})
	// 9 execs in 2 minutes had two causes. Go minimizes every new
	// interesting input for up to 60 s, and its execs are not counted:
	// with whole segment files as inputs the run went to minimizing
	// (scripts/fuzz bounds it to 1000 execs). And each exec cost
	// milliseconds to seconds on a busy disk: a fresh directory, and the
	// journal fsyncs its mark file and directory even with NoSync. So: one
	// directory for every exec of this worker process, on tmpfs when the
	// machine has one, emptied after each exec.
	dir := waltest.FastDir(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer waltest.Clear(t, dir) // after: what an exec leaves must not steer the next one's coverage
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", 1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := OpenJournal(dir, JournalOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		last := j.Last()
		evs, _ := j.Events(0, 1000) // a record that checks but does not decode may error; no panic
		if uint64(len(evs)) > last {
			t.Fatalf("%d events, last seq %d", len(evs), last)
		}
		if err := j.Append([]Event{testEvent(last + 1)}); err != nil {
			t.Fatal(err)
		}
		if got, err := j.Events(last, 10); err != nil || len(got) != 1 || got[0].Seq != last+1 {
			t.Fatalf("append after open: %v %v", got, err)
		}
	})
}

// allowed are SPEC §5's transitions between derived states (shelved and oos
// aside), plus a stage change that keeps the state.
var allowed = map[[2]State]bool{
	{Normal, Unack}: true, {Unack, Acked}: true, {Unack, RtnUnack}: true, {Unack, Unack}: true,
	{Acked, Normal}: true, {Acked, Latched}: true, {RtnUnack, Normal}: true, {RtnUnack, Latched}: true,
	{RtnUnack, Unack}: true, {RtnUnack, RtnUnack}: true, {Latched, Normal}: true, {Latched, Unack}: true,
}

// checkTransition checks one event against the previous event of the same
// alarm (the zero Event: a fresh alarm, normal): the state agrees with the
// flags, the transition is one SPEC §5 lists, and something SPEC §5 counts
// as a change did change.
func checkTransition(prev, ev Event) error {
	if prev.ID == "" {
		prev = Event{State: Normal, Acked: true}
	}
	var ok bool
	switch ev.State {
	case Normal:
		ok = !ev.Active && ev.Acked && !ev.Latched && ev.ShelvedUntil == nil && !ev.OOS
	case Unack:
		ok = ev.Active && !ev.Acked && ev.ShelvedUntil == nil && !ev.OOS
	case Acked:
		ok = ev.Active && ev.Acked && ev.ShelvedUntil == nil && !ev.OOS
	case RtnUnack:
		ok = !ev.Active && !ev.Acked && ev.ShelvedUntil == nil && !ev.OOS
	case Latched:
		ok = !ev.Active && ev.Acked && ev.Latched && ev.ShelvedUntil == nil && !ev.OOS
	case Shelved:
		ok = ev.ShelvedUntil != nil && !ev.OOS
	case OOS:
		ok = ev.OOS && !ev.Active && ev.ShelvedUntil == nil
	}
	if !ok {
		return fmt.Errorf("state %s disagrees with active=%v acked=%v latched=%v shelved=%v oos=%v",
			ev.State, ev.Active, ev.Acked, ev.Latched, ev.ShelvedUntil != nil, ev.OOS)
	}
	switch {
	case prev.State == OOS && ev.State != Normal:
		return fmt.Errorf("oos -> %s (ios returns to normal)", ev.State)
	case ev.State == Unack && ev.Stage != 0 && ev.Stage != prev.Stage+1 && prev.State != Shelved:
		return fmt.Errorf("unack with stage %d after stage %d", ev.Stage, prev.Stage)
	case prev.State != Shelved && prev.State != OOS && ev.State != Shelved && ev.State != OOS &&
		!allowed[[2]State{prev.State, ev.State}]:
		return fmt.Errorf("transition %s -> %s is not in SPEC §5", prev.State, ev.State)
	}
	same := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	if prev.State == ev.State && prev.Active == ev.Active && prev.Acked == ev.Acked && prev.Latched == ev.Latched &&
		same(prev.ShelvedUntil, ev.ShelvedUntil) && prev.OOS == ev.OOS && prev.Stage == ev.Stage {
		return fmt.Errorf("event #%d changes nothing SPEC §5 counts (state %s)", ev.Seq, ev.State)
	}
	return nil
}
