package alarms

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"hazardgw/drivers"
)

// testClock is an engine clock the test moves (Options.Now); Run reads it
// from its own goroutine.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestEngineStaleWatermark reproduces the stale-flood loop: samples handed
// to Sink while the engine is behind, then taken after the clock passed
// their points' stale time, must raise no stale; a point nobody sent
// still goes stale, at its own time. Stale is judged at the input
// watermark (Machine.AdvanceTo), not at the wall clock.
func TestEngineStaleWatermark(t *testing.T) {
	cfg := pointsConfig(t, `
  [[device.point]]
  id = "A"
  stale = "3s"
  [[device.point]]
  id = "B"
  stale = "3s"
  [[device.point]]
  id = "C"
  stale = "3s"
`)
	cases := []struct {
		name string
		// batches of A before the one batch of B, all handed in at
		// start+2s; the engine takes them at start+10s.
		before int
	}{
		// One group: the queue is then found empty, the watermark is
		// the clock (B's sample was evaluated).
		{"queue drained in one group", 3},
		// maxGroup batches of A fill the first group, B waits in the
		// queue: the first group's watermark is the latest Sink stamp
		// it took (start+2s), so B is not judged by the clock while its
		// sample is still queued.
		{"queue longer than a group", maxGroup},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := scenarioStart
			clock := &testClock{t: start}
			j, err := OpenJournal(t.TempDir(), JournalOptions{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			e, err := New(cfg, j, Options{Now: clock.Now, Queue: maxGroup + 8})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{t: t, j: j, events: make(chan Event, 100)}
			e.Subscribe(rec)
			at := start.Add(2 * time.Second)
			clock.Set(at)
			sink := e.Sink()
			for range tc.before {
				sink([]drivers.Sample{{Point: "A", Value: 1, Time: at}})
			}
			sink([]drivers.Sample{{Point: "B", Value: 1, Time: at}})
			clock.Set(start.Add(10 * time.Second)) // past every stale time
			e.CloseInput()
			if err := e.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			close(rec.events)
			var got []string
			for ev := range rec.events {
				got = append(got, ev.ID+" "+ev.State.String()+" at "+ev.Time.Sub(start).String())
			}
			if want := []string{"C:stale unack at 3s"}; !slices.Equal(got, want) {
				t.Fatalf("events %q, want %q", got, want)
			}
		})
	}
}

// TestEngineDelayWatermark: an on-delay is judged on the input too. The
// condition holds at 0 s (on_delay 2 s) and is gone in a sample handed in
// at 1 s that the engine takes at 5 s: no activation (judged at the clock,
// the delay elapsed before the queued sample was seen: a spurious alarm
// and its clearing). A condition that holds for the delay still raises,
// at its due time.
func TestEngineDelayWatermark(t *testing.T) {
	cfg := pointsConfig(t, `
  [[device.point]]
  id = "T"
  hi = 10.0
  on_delay = "2s"
  stale = "1h"
`)
	now := scenarioStart
	j, e := journaledEngine(t, cfg, t.TempDir(), JournalOptions{NoSync: true}, &now)
	defer j.Close()
	// step takes batch as Run does: the batch handed in at `sent`, the
	// queue then found drained at now.
	step := func(sent, taken time.Duration, v float64) []string {
		t.Helper()
		now = scenarioStart.Add(taken)
		var group []item
		if v == v {
			at := scenarioStart.Add(sent)
			group = []item{{samples: []drivers.Sample{{Point: "T", Value: v, Time: at}}, at: at.UnixNano()}}
		}
		e.taken = now.UnixNano()
		e.step(group, nil)
		var got []string
		for _, ev := range e.pending {
			got = append(got, ev.ID+" "+ev.State.String()+" at "+ev.Time.Sub(scenarioStart).String())
		}
		return got
	}
	nan := math.NaN()
	steps := []struct {
		name        string
		sent, taken time.Duration
		v           float64
		want        []string
	}{
		{"condition holds, delay starts", 0, 0, 20, nil},
		{"gone in a sample queued past the due time", time.Second, 5 * time.Second, 5, nil},
		{"holds again", 6 * time.Second, 6 * time.Second, 20, nil},
		{"timer wake before the due time", 0, 7 * time.Second, nan, nil},
		{"timer wake after it", 0, 9 * time.Second, nan, []string{"T:hi unack at 8s"}},
	}
	for _, s := range steps {
		if got := step(s.sent, s.taken, s.v); !slices.Equal(got, s.want) {
			t.Fatalf("%s: events %q, want %q", s.name, got, s.want)
		}
	}
}
