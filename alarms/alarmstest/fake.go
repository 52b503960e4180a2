package alarmstest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
)

// Options configure a Fake.
type Options struct {
	// Now is the clock; nil: a test clock that starts at Start and moves
	// one second at every Raise, Clear and Do (Advance moves it further).
	Now func() time.Time
	// Start is the test clock's start (zero: 2026-11-28T08:00:00Z).
	Start time.Time
}

// Fake is an alarm engine for the tests of its consumers: the real
// alarms.Machine of cfg behind a Log, evaluated synchronously. It has the
// engine's read side (Do, Alarms, Events, Seq, Flood, as console.Engine
// wants) and hands every event to its output after journaling it, in seq
// order, as alarms.Engine does.
type Fake struct {
	mu      sync.Mutex
	m       *alarms.Machine
	log     Log
	out     alarms.Output
	clock   func() time.Time
	now     time.Time
	prio    map[string]alarms.Priority // Raise's priority, by alarm id
	flood   bool
	current map[string]alarms.Event // every alarm not normal, as last journaled
}

// NewFake builds the alarms of cfg (as alarms.NewMachine does).
func NewFake(cfg *configs.Config, opts Options) (*Fake, error) {
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	}
	f := &Fake{clock: opts.Now, now: opts.Start, prio: map[string]alarms.Priority{}, current: map[string]alarms.Event{}}
	if f.clock != nil {
		f.now = f.clock()
	}
	m, err := alarms.NewMachine(cfg, f.now)
	if err != nil {
		return nil, err
	}
	f.m = m
	return f, nil
}

// Subscribe sets the output. Call it before anything happens.
func (f *Fake) Subscribe(o alarms.Output) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = o
}

// Log is the journal: tests may Keep fewer events, as retention would.
func (f *Fake) Log() *Log { return &f.log }

// Now is the time of the last thing that happened.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// SetFlood sets the flood flag of the events from now on (the Machine's
// own needs more than 10 activations in 10 minutes).
func (f *Fake) SetFlood(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flood = on
}

// tick moves the clock: the next thing happens one second later.
func (f *Fake) tick(d time.Duration) time.Time {
	if f.clock != nil {
		f.now = f.clock()
	} else {
		f.now = f.now.Add(d)
	}
	return f.now
}

// Raise makes the condition of alarm id hold now, with the point's value
// value: it activates through the state table (normal, rtn_unack and
// latched become unack; a shelved alarm stays shelved). prio, unless 0,
// replaces the configured priority in every event of the alarm. An alarm
// already active is announced once more: one event in its state, which the
// engine would not send; tests of consumers use it to make traffic.
func (f *Fake) Raise(id string, prio alarms.Priority, value float64) (alarms.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.tick(time.Second)
	if prio != 0 {
		f.prio[id] = prio
	}
	if err := f.m.Force(now, id, true, value); err != nil {
		return alarms.Event{}, err
	}
	if evs := f.m.Take(); len(evs) > 0 {
		return f.publish(evs, id), nil
	}
	for _, ev := range f.m.Current(now) {
		if ev.ID == id {
			ev.Seq = f.m.Seq() + 1
			f.m.Restore(ev, now) // the Machine counts the seq
			return f.publish([]alarms.Event{ev}, id), nil
		}
	}
	return alarms.Event{}, fmt.Errorf("alarmstest: raise %s: nothing happened", id)
}

// Clear makes the condition of alarm id go now: it clears through the
// state table (unack becomes rtn_unack, acked normal, or latched when the
// point latches). Clearing an alarm not active is an error.
func (f *Fake) Clear(id string) (alarms.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.tick(time.Second)
	if err := f.m.Force(now, id, false, math.NaN()); err != nil {
		return alarms.Event{}, err
	}
	evs := f.m.Take()
	if len(evs) == 0 {
		return alarms.Event{}, fmt.Errorf("alarmstest: clear %s: not active", id)
	}
	return f.publish(evs, id), nil
}

// Advance moves the clock by d and fires what is due (delays, escalation
// stages, shelf expiry, stale points), as the engine's timer does. It
// returns the events, as journaled.
func (f *Fake) Advance(d time.Duration) []alarms.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.tick(d)
	f.m.Advance(now)
	evs := f.m.Take()
	if len(evs) == 0 {
		f.stale()
		return nil
	}
	out := make([]alarms.Event, 0, len(evs))
	for _, ev := range evs {
		out = append(out, f.journal(ev))
	}
	f.stale()
	return out
}

// Pass hands a batch of samples to the output without evaluating it: the
// test decides what the alarms do, and shows values beside them.
func (f *Fake) Pass(b []drivers.Sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.out != nil {
		f.out.Samples(b)
	}
}

// publish journals and hands out evs (the Machine's events of one call)
// and returns the first event of alarm id among them (or the first).
func (f *Fake) publish(evs []alarms.Event, id string) alarms.Event {
	var first alarms.Event
	for i, ev := range evs {
		ev = f.journal(ev)
		if i == 0 || (first.ID != id && ev.ID == id) {
			first = ev
		}
	}
	f.stale()
	return first
}

// journal appends ev to the log, then shows it to the output: the
// engine's order.
func (f *Fake) journal(ev alarms.Event) alarms.Event {
	if p, ok := f.prio[ev.ID]; ok {
		ev.Priority = p
	}
	ev.Flood = f.flood
	ev = f.log.Append(ev)
	if ev.State == alarms.Normal {
		delete(f.current, ev.ID)
	} else {
		f.current[ev.ID] = ev
	}
	if f.out != nil {
		f.out.Event(ev)
	}
	return ev
}

// stale hands the bad/stale samples of points gone stale to the output,
// after their events, as the engine does.
func (f *Fake) stale() {
	if s := f.m.TakeStale(); len(s) > 0 && f.out != nil {
		f.out.Samples(s)
	}
}

// Do applies an operator command through the Machine: the refusals and
// transitions are the engine's.
func (f *Fake) Do(ctx context.Context, c alarms.Command) (alarms.Event, error) {
	if err := ctx.Err(); err != nil {
		return alarms.Event{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.tick(time.Second)
	if _, err := f.m.Command(now, c); err != nil {
		return alarms.Event{}, err
	}
	return f.publish(f.m.Take(), c.Alarm), nil
}

// Alarms returns every alarm not normal, as last journaled.
func (f *Fake) Alarms() []alarms.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]alarms.Event, 0, len(f.current))
	for _, ev := range f.current {
		out = append(out, ev)
	}
	return out
}

// Events reads the journal.
func (f *Fake) Events(after uint64, limit int) ([]alarms.Event, error) {
	return f.log.Events(after, limit)
}

// Seq is the seq of the last event journaled.
func (f *Fake) Seq() uint64 { return f.log.Seq() }

// Flood is the flag SetFlood set.
func (f *Fake) Flood() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flood
}
