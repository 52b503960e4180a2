package console

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// fakeEngine implements Engine faithfully enough for the console: one lock
// stands for the engine goroutine, every change is journaled before the
// output sees it, seqs are consecutive, and commands follow SPEC §5's
// transitions (ack, reset refused while active, shelve, oos).
type fakeEngine struct {
	mu      sync.Mutex
	seq     uint64
	table   map[string]alarms.Event
	journal []alarms.Event
	keep    int // journal keeps only the last keep events (0: all)
	points  map[string]bool
	out     interface {
		Event(alarms.Event)
		Samples([]drivers.Sample)
	}
	flood bool
	now   time.Time
	cmds  []alarms.Command
}

func newFakeEngine(points ...string) *fakeEngine {
	f := &fakeEngine{table: map[string]alarms.Event{}, points: map[string]bool{},
		now: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)}
	for _, p := range points {
		f.points[p] = true
	}
	return f
}

// emitLocked journals ev with the next seq, updates the table and hands it
// to the output, in that order.
func (f *fakeEngine) emitLocked(ev alarms.Event) alarms.Event {
	f.seq++
	f.now = f.now.Add(time.Second)
	ev.Seq, ev.Emitted = f.seq, f.now
	if ev.Time.IsZero() {
		ev.Time = f.now
	}
	ev.Flood = f.flood
	f.journal = append(f.journal, ev)
	if f.keep > 0 && len(f.journal) > f.keep {
		f.journal = f.journal[len(f.journal)-f.keep:]
	}
	if ev.State == alarms.Normal {
		delete(f.table, ev.ID)
	} else {
		f.table[ev.ID] = ev
	}
	if f.out != nil {
		f.out.Event(ev)
	}
	return ev
}

// raise activates POINT:COND (or re-activates it).
func (f *fakeEngine) raise(id string, prio alarms.Priority, value float64) alarms.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	point, cond, _ := strings.Cut(id, ":")
	ev, ok := f.table[id]
	if !ok {
		ev = alarms.Event{ID: id, Point: point, Cond: cond, Priority: prio, Tier: 2, Limit: 60,
			Unit: "ppm", Quality: "good", Site: "SQ-TEST", Device: "GC-ROOM1", Name: point}
	}
	t := f.now.Add(time.Second)
	ev.Active, ev.Acked, ev.State, ev.Value, ev.Activated, ev.Time = true, false, alarms.Unack, value, &t, t
	ev.By, ev.Comment = "", ""
	ev = f.emitLocked(ev)
	if cond == "stale" && f.out != nil {
		// As alarms.Engine does: the point itself turns bad/stale.
		f.out.Samples([]drivers.Sample{{Point: drivers.PointID(point), Value: math.NaN(),
			Quality: drivers.Bad, Cause: drivers.CauseStale, Time: t}})
	}
	return ev
}

// escalate moves an alarm to its next stage, naming the targets.
func (f *fakeEngine) escalate(id string, notify ...string) alarms.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := f.table[id]
	ev.Stage++
	ev.Notify = notify
	ev.Time = f.now.Add(time.Second)
	return f.emitLocked(ev)
}

// clear makes the condition go away.
func (f *fakeEngine) clear(id string) alarms.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := f.table[id]
	ev.Active = false
	switch ev.State {
	case alarms.Unack:
		ev.State = alarms.RtnUnack
	case alarms.Acked:
		ev.State = alarms.Normal
	}
	return f.emitLocked(ev)
}

func (f *fakeEngine) samples(b []drivers.Sample) { f.out.Samples(b) }

func (f *fakeEngine) Do(ctx context.Context, c alarms.Command) (alarms.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, c)
	if c.Op == alarms.OpOOS || c.Op == alarms.OpIOS {
		if !f.points[c.Point] {
			return alarms.Event{}, fmt.Errorf("%s %s: %w", c.Op, c.Point, alarms.ErrUnknown)
		}
		ev := alarms.Event{ID: c.Point + ":comm", Point: c.Point, Cond: "comm", Priority: alarms.Low,
			By: c.By, Comment: c.Comment, Time: f.now}
		if old, ok := f.table[ev.ID]; ok {
			ev = old
		}
		ev.OOS = c.Op == alarms.OpOOS
		ev.State = alarms.Normal
		if ev.OOS {
			ev.State = alarms.OOS
		}
		ev.By, ev.Comment = c.By, c.Comment
		return f.emitLocked(ev), nil
	}
	if c.Alarm == "ENGINE:stopped" {
		return alarms.Event{}, errors.New("alarms: engine stopped")
	}
	ev, ok := f.table[c.Alarm]
	if !ok {
		return alarms.Event{}, fmt.Errorf("%s %s: %w", c.Op, c.Alarm, alarms.ErrUnknown)
	}
	ev.By, ev.Comment = c.By, c.Comment
	switch c.Op {
	case alarms.OpAck:
		switch ev.State {
		case alarms.Unack:
			ev.State, ev.Acked = alarms.Acked, true
		case alarms.RtnUnack:
			ev.State, ev.Acked = alarms.Normal, true
		default:
			return alarms.Event{}, fmt.Errorf("ack %s in state %s: %w", c.Alarm, ev.State, alarms.ErrRefused)
		}
	case alarms.OpReset:
		if ev.Active || ev.State != alarms.Latched {
			return alarms.Event{}, fmt.Errorf("reset %s: condition still holds: %w", c.Alarm, alarms.ErrRefused)
		}
		ev.State = alarms.Normal
	case alarms.OpShelve:
		until := f.now.Add(c.For)
		ev.State, ev.ShelvedUntil = alarms.Shelved, &until
	case alarms.OpUnshelve:
		if ev.State != alarms.Shelved {
			return alarms.Event{}, fmt.Errorf("unshelve %s: not shelved: %w", c.Alarm, alarms.ErrRefused)
		}
		ev.ShelvedUntil, ev.State, ev.Acked = nil, alarms.Unack, false
	default:
		return alarms.Event{}, fmt.Errorf("%s: %w", c.Op, alarms.ErrInvalid)
	}
	return f.emitLocked(ev), nil
}

func (f *fakeEngine) Alarms() []alarms.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]alarms.Event, 0, len(f.table))
	for _, ev := range f.table {
		out = append(out, ev)
	}
	return out
}

func (f *fakeEngine) Events(after uint64, limit int) ([]alarms.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []alarms.Event
	for _, ev := range f.journal {
		if ev.Seq > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakeEngine) Seq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq
}

func (f *fakeEngine) Flood() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flood
}

var _ Engine = (*fakeEngine)(nil)
