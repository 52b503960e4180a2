package alarms

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/drivers"
)

// recorder is an Output that checks every event is in the journal before
// it is shown, and hands events to the test over a channel.
type recorder struct {
	t       *testing.T
	j       *Journal
	events  chan Event
	mu      sync.Mutex
	samples int
	notJour []uint64
}

func (r *recorder) Samples(b []drivers.Sample) {
	r.mu.Lock()
	r.samples += len(b)
	r.mu.Unlock()
}

func (r *recorder) Event(ev Event) {
	evs, err := r.j.Events(ev.Seq-1, 1)
	if err != nil || len(evs) != 1 || evs[0].Seq != ev.Seq {
		r.mu.Lock()
		r.notJour = append(r.notJour, ev.Seq)
		r.mu.Unlock()
	}
	select {
	case r.events <- ev:
	default:
		r.t.Errorf("recorder full: event %d", ev.Seq)
	}
}

const engineConfig = `
[site]
id = "SQ-COLD-01"
[escalation]
  [[escalation.stage]]
  after = "0s"
  notify = ["operator"]
  [[escalation.stage]]
  after = "2m"
  notify = ["commander", "platform"]
[[device]]
id = "GC-ROOM1"
driver = "modbus"
  [[device.point]]
  id = "NH3-101"
  name = "Compressor room NH3"
  unit = "ppm"
  hihi = 60.0
  latch = true
  stale = "1h"
`

func TestEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		cfg := parseScenarioConfig(t, engineConfig)
		j, err := OpenJournal(dir, JournalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		e, err := New(cfg, j, Options{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{t: t, j: j, events: make(chan Event, 100)}
		e.Subscribe(rec)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()

		next := func(within time.Duration) Event {
			t.Helper()
			select {
			case ev := <-rec.events:
				return ev
			case <-time.After(within):
				t.Fatalf("no event within %s", within)
			}
			return Event{}
		}
		start := time.Now()
		sink := e.Sink()
		sink([]drivers.Sample{{Point: "NH3-101", Value: 61.5, Time: start}, {Point: "UNKNOWN", Value: 1, Time: start}})
		ev := next(time.Second)
		if ev.Seq != 1 || ev.ID != "NH3-101:hihi" || ev.State != Unack || ev.Stage != 0 || ev.Site != "SQ-COLD-01" ||
			ev.Device != "GC-ROOM1" || ev.Name != "Compressor room NH3" || ev.Unit != "ppm" || strings.Join(ev.Notify, ",") != "operator" {
			t.Fatalf("activation event %+v", ev)
		}
		// Stage 1 is due 2 min after activation; it must fire within 1 s.
		ev = next(3 * time.Minute)
		if ev.Stage != 1 || strings.Join(ev.Notify, ",") != "operator,commander,platform" {
			t.Fatalf("stage event %+v", ev)
		}
		if late := ev.Emitted.Sub(start.Add(2 * time.Minute)); late < 0 || late > time.Second {
			t.Fatalf("stage 1 emitted %s after due", late)
		}
		if _, err := e.Do(ctx, Command{Op: OpReset, Alarm: "NH3-101:hihi"}); !errors.Is(err, ErrRefused) {
			t.Fatalf("reset while active: %v, want ErrRefused", err)
		}
		if _, err := e.Do(ctx, Command{Op: OpAck, Alarm: "NOPE:hihi"}); !errors.Is(err, ErrUnknown) {
			t.Fatalf("ack unknown: %v, want ErrUnknown", err)
		}
		ack, err := e.Do(ctx, Command{Op: OpAck, Alarm: "NH3-101:hihi", By: "zhang"})
		if err != nil || ack.State != Acked || ack.Seq != 3 || ack.By != "zhang" {
			t.Fatalf("ack: %v %+v", err, ack)
		}
		if got := next(time.Second); got.Seq != 3 {
			t.Fatalf("output saw %d, want the ack (3)", got.Seq)
		}
		sink([]drivers.Sample{{Point: "NH3-101", Value: 10, Time: time.Now()}})
		if ev := next(time.Second); ev.State != Latched {
			t.Fatalf("after clearing: %s, want latched", ev.State)
		}
		if got := e.Alarms(); len(got) != 1 || got[0].State != Latched {
			t.Fatalf("Alarms() = %+v", got)
		}
		if h := e.Health(); h.Seq != 4 || h.Active != 1 || h.Flood || e.Flood() {
			t.Fatalf("health %+v", h)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch {
				case m.GetCounter() != nil:
					got[mf.GetName()] += m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					got[mf.GetName()] += float64(m.GetHistogram().GetSampleCount())
				case m.GetGauge() != nil:
					got[mf.GetName()] += m.GetGauge().GetValue()
				}
			}
		}
		if got["hazardgw_alarm_samples_total"] != 3 || got["hazardgw_alarm_events_total"] != 4 ||
			got["hazardgw_alarm_journal_fsync_seconds"] < 4 || got["hazardgw_alarms_not_normal"] != 1 {
			t.Fatalf("metrics %v", got)
		}
		// Drain on shutdown: what was queued before CloseInput is evaluated.
		sink([]drivers.Sample{{Point: "NH3-101", Value: 70, Time: time.Now()}})
		e.CloseInput()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if ev := next(time.Second); ev.State != Unack || ev.Seq != 5 {
			t.Fatalf("drained event %+v", ev)
		}
		if len(rec.notJour) > 0 {
			t.Fatalf("events shown before they were journaled: %v", rec.notJour)
		}
		if rec.samples != 4 {
			t.Fatalf("outputs saw %d samples, want 4", rec.samples)
		}
		if evs, err := e.Events(0, 100); err != nil || len(evs) != 5 {
			t.Fatalf("Events: %v, %d", err, len(evs))
		}
		j.Close()

		// Restart: the unack alarm is still unack, seq continues.
		j, err = OpenJournal(dir, JournalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		e2, err := New(cfg, j, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := e2.Alarms(); len(got) != 1 || got[0].State != Unack || e2.Seq() != 5 {
			t.Fatalf("after restart: seq %d alarms %+v", e2.Seq(), got)
		}
	})
}

// A Sink blocked on a full queue is released when Run returns.
func TestEngineSinkAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j, err := OpenJournal(t.TempDir(), JournalOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		e, err := New(parseScenarioConfig(t, engineConfig), j, Options{Queue: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			for range 3 {
				e.Sink()([]drivers.Sample{{Point: "NH3-101", Value: 1, Time: time.Now()}})
			}
			close(done)
		}()
		synctest.Wait()
		go e.Run(ctx)
		cancel()
		<-done
		if _, err := e.Do(context.Background(), Command{Op: OpAck, Alarm: "NH3-101:hihi"}); err == nil {
			t.Fatal("Do after stop succeeded")
		}
	})
}

// Readers (console, HTTP) call Events, Alarms and Health while the engine
// writes and rotates segments; run under -race.
func TestEngineConcurrentReaders(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), JournalOptions{SegmentBytes: 4 << 10, MaxBytes: 16 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	e, err := New(parseScenarioConfig(t, fuzzConfig), j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// This test wants a stream of events from one toggling alarm, which
	// SPEC §5's chatter handling would hold after 6 activations.
	e.m.chatterWindow = 0
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				evs, err := e.Events(e.FirstSeq()-1, 50)
				if err != nil {
					t.Error(err)
					return
				}
				for i := 1; i < len(evs); i++ {
					if evs[i].Seq != evs[i-1].Seq+1 {
						t.Errorf("Events not consecutive: %d then %d", evs[i-1].Seq, evs[i].Seq)
						return
					}
				}
				_ = e.Alarms()
				_ = e.Health()
			}
		}()
	}
	sink := e.Sink()
	for i := range 2000 {
		sink([]drivers.Sample{{Point: "C", Value: float64(i % 2), Time: time.Now()}})
	}
	e.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	// The first sample (0) is normal; each of the 1999 others toggles C:on.
	if e.Seq() != 1999 {
		t.Fatalf("seq %d after 1999 toggles", e.Seq())
	}
}

// sampleTap is an Output that hands sample batches to the test.
type sampleTap struct{ batches chan []drivers.Sample }

func (s sampleTap) Samples(b []drivers.Sample) { s.batches <- b }
func (s sampleTap) Event(Event)                {}

// TestEngineStaleSample: when a point goes stale the outputs receive, after
// the stale event, a bad/stale sample of it timed when it went stale, so
// the console, the store and the uplink show the point as bad/stale like
// any other quality.
func TestEngineStaleSample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := pointsConfig(t, `
  [[device.point]]
  id = "P"
  hi = 10.0
  stale = "3s"
`)
		j, err := OpenJournal(t.TempDir(), JournalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(cfg, j, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tap := sampleTap{batches: make(chan []drivers.Sample, 10)}
		e.Subscribe(tap)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go e.Run(ctx)
		start := time.Now()
		e.Sink()([]drivers.Sample{{Point: "P", Value: 5, Time: start}})
		if b := <-tap.batches; len(b) != 1 || b[0].Quality != drivers.Good {
			t.Fatalf("first batch %+v", b)
		}
		select {
		case b := <-tap.batches:
			if len(b) != 1 || b[0].Point != "P" || b[0].Quality != drivers.Bad || b[0].Cause != drivers.CauseStale ||
				b[0].Value == b[0].Value || !b[0].Time.Equal(start.Add(3*time.Second)) {
				t.Fatalf("stale sample %+v, want P bad/stale NaN at start+3s", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no bad/stale sample 10 s after the last good one")
		}
		if a := e.Alarms(); len(a) != 1 || a[0].ID != "P:stale" {
			t.Fatalf("alarms %+v, want P:stale", a)
		}
	})
}
