package alarmstest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/alarms/alarmstest"
	"hazardgw/configs"
	"hazardgw/drivers"
)

func seqs(evs []alarms.Event) []uint64 {
	var s []uint64
	for _, ev := range evs {
		s = append(s, ev.Seq)
	}
	return s
}

func TestLog(t *testing.T) {
	var l alarmstest.Log
	if l.Seq() != 0 || l.First() != 0 {
		t.Fatalf("empty log: seq %d first %d", l.Seq(), l.First())
	}
	for range 3 {
		l.Append(alarms.Event{ID: "A:hi"})
	}
	l.Append(alarms.Event{Seq: 7, ID: "A:hi"}) // a gap, as after retention
	if got := l.Append(alarms.Event{ID: "A:hi"}); got.Seq != 8 {
		t.Fatalf("next seq %d, want 8", got.Seq)
	}
	for _, tc := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 100, []uint64{1, 2, 3, 7, 8}},
		{2, 2, []uint64{3, 7}},
		{8, 10, nil},
		{0, 0, nil},
	} {
		got, err := l.Events(tc.after, tc.limit)
		if err != nil || !slices.Equal(seqs(got), tc.want) {
			t.Errorf("Events(%d, %d) = %v, %v; want %v", tc.after, tc.limit, seqs(got), err, tc.want)
		}
	}
	l.Keep(2)
	if l.First() != 7 || l.Seq() != 8 {
		t.Fatalf("after Keep(2): first %d seq %d, want 7 and 8", l.First(), l.Seq())
	}
	defer func() {
		if recover() == nil {
			t.Error("an old seq was appended without a panic")
		}
	}()
	l.Append(alarms.Event{Seq: 8})
}

// recorder is an alarms.Output.
type recorder struct {
	events  []alarms.Event
	samples []drivers.Sample
}

func (r *recorder) Event(ev alarms.Event)      { r.events = append(r.events, ev) }
func (r *recorder) Samples(b []drivers.Sample) { r.samples = append(r.samples, b...) }

func fakeSite(t *testing.T) (*alarmstest.Fake, *recorder) {
	hi, hihi := 30.0, 60.0
	cfg := &configs.Config{Site: configs.Site{ID: "S"},
		Console:    configs.Console{MaxShelve: configs.Duration(time.Hour)},
		Escalation: configs.Escalation{MinPriority: "low", Stages: []configs.Stage{{After: configs.Duration(time.Minute), Notify: []string{"operator"}}}},
		Devices: []configs.Device{{ID: "D", Points: []configs.Point{
			{ID: "GAS", Hi: &hi, HiHi: &hihi, Latch: true, Stale: configs.Duration(time.Hour)},
			{ID: "LVL", Hi: &hi, Stale: configs.Duration(time.Hour)},
		}}}}
	cfg.SetDefaults()
	f, err := alarmstest.NewFake(cfg, alarmstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	f.Subscribe(r)
	return f, r
}

// TestFakeLatch: the transitions are the engine's, latch included (the
// console's old fake acknowledged a latching rtn_unack alarm to normal).
func TestFakeLatch(t *testing.T) {
	f, r := fakeSite(t)
	ctx := context.Background()
	must := func(ev alarms.Event, err error) alarms.Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := must(f.Raise("GAS:hihi", alarms.Urgent, 61.5)); ev.State != alarms.Unack || ev.Priority != alarms.Urgent || ev.Value != 61.5 {
		t.Fatalf("raise: %+v", ev)
	}
	if r.events[0].ID != "GAS:hihi" || len(r.events) != 1 {
		t.Fatalf("raising hihi touched its neighbours: %+v", r.events)
	}
	if _, err := f.Do(ctx, alarms.Command{Op: alarms.OpReset, Alarm: "GAS:hihi"}); !errors.Is(err, alarms.ErrRefused) {
		t.Fatalf("reset while active: %v, want refused", err)
	}
	if ev := must(f.Clear("GAS:hihi")); ev.State != alarms.RtnUnack || !ev.Latched {
		t.Fatalf("clear: %s latched=%v, want rtn_unack latched", ev.State, ev.Latched)
	}
	if ev := must(f.Do(ctx, alarms.Command{Op: alarms.OpAck, Alarm: "GAS:hihi", By: "op"})); ev.State != alarms.Latched || ev.By != "op" {
		t.Fatalf("ack: %s by %q, want latched by op", ev.State, ev.By)
	}
	if ev := must(f.Do(ctx, alarms.Command{Op: alarms.OpReset, Alarm: "GAS:hihi"})); ev.State != alarms.Normal || ev.Priority != alarms.Urgent {
		t.Fatalf("reset: %s %s, want normal, urgent", ev.State, ev.Priority)
	}
	if len(f.Alarms()) != 0 {
		t.Fatalf("alarms after reset: %+v", f.Alarms())
	}
	// LVL does not latch.
	must(f.Raise("LVL:hi", 0, 31))
	must(f.Clear("LVL:hi"))
	if ev := must(f.Do(ctx, alarms.Command{Op: alarms.OpAck, Alarm: "LVL:hi"})); ev.State != alarms.Normal {
		t.Fatalf("ack of a non-latching rtn_unack: %s, want normal", ev.State)
	}
	evs, _ := f.Events(0, 100)
	if !slices.Equal(seqs(evs), seqs(r.events)) || len(evs) != 7 || f.Seq() != 7 {
		t.Fatalf("journal %v, output %v, seq %d: want the same 7 events", seqs(evs), seqs(r.events), f.Seq())
	}
	if _, err := f.Clear("LVL:hi"); err == nil {
		t.Fatal("clearing an alarm not active: no error")
	}
}

// TestFakeTimeAndTraffic: escalation fires on Advance; raising an active
// alarm again makes one more event; a stale alarm hands out the stale sample.
func TestFakeTimeAndTraffic(t *testing.T) {
	f, r := fakeSite(t)
	f.Raise("LVL:hi", 0, 31)
	again, err := f.Raise("LVL:hi", 0, 32)
	if err != nil || again.State != alarms.Unack || again.Value != 32 || again.Seq != 2 {
		t.Fatalf("raise again: %+v %v", again, err)
	}
	f.SetFlood(true)
	evs := f.Advance(time.Minute)
	if len(evs) != 1 || evs[0].Stage != 1 || !slices.Equal(evs[0].Notify, []string{"operator"}) || !evs[0].Flood {
		t.Fatalf("after a minute: %+v, want stage 1 to the operator, in a flood", evs)
	}
	if _, err := f.Raise("GAS:stale", 0, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(r.samples); n != 1 || r.samples[0].Point != "GAS" || r.samples[0].Cause != drivers.CauseStale {
		t.Fatalf("samples %+v, want GAS bad/stale", r.samples)
	}
	if _, err := f.Raise("NOPE:hi", 0, 1); !errors.Is(err, alarms.ErrUnknown) {
		t.Fatalf("unknown alarm: %v", err)
	}
}
