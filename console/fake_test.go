package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"hazardgw/alarms"
	"hazardgw/alarms/alarmstest"
	"hazardgw/configs"
	"hazardgw/drivers"
)

// fakeEngine is the console's view of alarmstest.Fake: the real alarm
// Machine of fakeSite behind an in-memory journal, so commands are refused
// and transition exactly as the engine's (latch included). The tests set
// the fields below under mu; each call hands them to the Fake.
type fakeEngine struct {
	fake *alarmstest.Fake
	out  interface { // set once, before anything happens
		Event(alarms.Event)
		Samples([]drivers.Sample)
	}

	mu    sync.Mutex
	keep  int  // the journal keeps only the last keep events (0: all)
	flood bool // the flood flag of the next events
	now   time.Time
	cmds  []alarms.Command
}

// fakeSite is testConfig's plant as alarms: NH3-101 (hi 30, hihi 60),
// FIRE-Z1 (alarm_on, urgent), TK-101.LT (hi 90); every point has comm and
// stale, stale only when a test raises it. An alarm not normal and not
// acknowledged escalates to the operator and the platform after a minute
// (escalate).
func fakeSite(points ...string) *configs.Config {
	on := true
	all := map[string]configs.Point{
		"NH3-101":   {ID: "NH3-101", Name: "Compressor room NH3", Unit: "ppm", Range: []float64{0, 1000}, Hi: f64(30), HiHi: f64(60)},
		"FIRE-Z1":   {ID: "FIRE-Z1", Name: "Fire zone 1", AlarmOn: &on, Priority: "urgent", Tier: 2},
		"TK-101.LT": {ID: "TK-101.LT", Name: "Tank 101 level", Unit: "%", Range: []float64{0, 100}, Hi: f64(90)},
	}
	dev := map[string]string{"NH3-101": "GC-ROOM1", "FIRE-Z1": "GC-ROOM1", "TK-101.LT": "TANKS"}
	c := &configs.Config{
		Site:    configs.Site{ID: "SQ-TEST", Name: "Test cold store"},
		Console: configs.Console{MaxShelve: configs.Duration(time.Hour)},
		Escalation: configs.Escalation{MinPriority: "low", Stages: []configs.Stage{
			{After: configs.Duration(time.Minute), Notify: []string{"operator", "platform"}}}},
		Devices: []configs.Device{{ID: "GC-ROOM1"}, {ID: "TANKS"}},
	}
	for _, p := range points {
		pc, ok := all[p]
		if !ok {
			panic("fakeSite: no point " + p)
		}
		pc.Stale = configs.Duration(1000 * time.Hour)
		d := &c.Devices[0]
		if dev[p] == "TANKS" {
			d = &c.Devices[1]
		}
		d.Points = append(d.Points, pc)
	}
	c.SetDefaults()
	return c
}

func newFakeEngine(points ...string) *fakeEngine {
	fk, err := alarmstest.NewFake(fakeSite(points...), alarmstest.Options{})
	if err != nil {
		panic(err)
	}
	f := &fakeEngine{fake: fk, now: fk.Now()}
	fk.Subscribe(forward{f})
	return f
}

// forward hands the Fake's output to f.out (called with f.mu held).
type forward struct{ f *fakeEngine }

func (w forward) Event(ev alarms.Event) {
	if w.f.out != nil {
		w.f.out.Event(ev)
	}
}

func (w forward) Samples(b []drivers.Sample) {
	if w.f.out != nil {
		w.f.out.Samples(b)
	}
}

// locked runs fn with the tests' settings handed to the Fake.
func (f *fakeEngine) locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fake.Log().Keep(f.keep)
	f.fake.SetFlood(f.flood)
	fn()
	f.now = f.fake.Now()
}

// raise activates POINT:COND with the point at value (once more when it is
// active already), with priority prio.
func (f *fakeEngine) raise(id string, prio alarms.Priority, value float64) (ev alarms.Event) {
	var err error
	f.locked(func() { ev, err = f.fake.Raise(id, prio, value) })
	if err != nil {
		panic(err)
	}
	return ev
}

// escalate lets a minute pass: alarm id, unacknowledged, escalates to the
// next stage, which must name notify.
func (f *fakeEngine) escalate(id string, notify ...string) alarms.Event {
	var evs []alarms.Event
	f.locked(func() { evs = f.fake.Advance(time.Minute) })
	for _, ev := range evs {
		if ev.ID == id && slices.Equal(ev.Notify, notify) {
			return ev
		}
	}
	panic(fmt.Sprintf("escalate %s to %v: the minute brought %+v", id, notify, evs))
}

// clear makes the condition go away.
func (f *fakeEngine) clear(id string) (ev alarms.Event) {
	var err error
	f.locked(func() { ev, err = f.fake.Clear(id) })
	if err != nil {
		panic(err)
	}
	return ev
}

func (f *fakeEngine) samples(b []drivers.Sample) { f.fake.Pass(b) }

// Do records the command and applies it; the alarm "ENGINE:stopped"
// answers as an engine that has stopped.
func (f *fakeEngine) Do(ctx context.Context, c alarms.Command) (ev alarms.Event, err error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, c)
	f.mu.Unlock()
	if c.Alarm == "ENGINE:stopped" {
		return alarms.Event{}, errors.New("alarms: engine stopped")
	}
	f.locked(func() { ev, err = f.fake.Do(ctx, c) })
	return ev, err
}

func (f *fakeEngine) Alarms() []alarms.Event { return f.fake.Alarms() }

func (f *fakeEngine) Events(after uint64, limit int) ([]alarms.Event, error) {
	return f.fake.Events(after, limit)
}

func (f *fakeEngine) Seq() uint64 { return f.fake.Seq() }

func (f *fakeEngine) Flood() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flood
}

var _ Engine = (*fakeEngine)(nil)
