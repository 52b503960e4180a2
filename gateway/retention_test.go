package main

import (
	"testing"
	"time"

	"hazardgw/alarms"
)

// TestRetentionKeepsWhatAnOutputHasNotConsumed: with journal_keep over for
// the old segments, the journal removes none of them while the slowest
// consumer (as run.go wires it: consumedBy over the store's outbox mark
// and the outputs' cursors) has not taken their events, and removes them
// once every consumer has. A consumer that does not apply (ok false) does
// not hold anything back.
func TestRetentionKeepsWhatAnOutputHasNotConsumed(t *testing.T) {
	j, err := alarms.OpenJournal(t.TempDir(), alarms.JournalOptions{SegmentBytes: 2 << 10, MaxBytes: 1 << 30,
		Keep: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var storeMark, uplink uint64
	storeOK := true
	j.SetConsumed(consumedBy(
		func() (uint64, bool) { return storeMark, storeOK },
		func() (uint64, bool) { return uplink, true },
		func() (uint64, bool) { return 0, false }, // e.g. no notify target
	))
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	ev := func(seq uint64, at time.Time) alarms.Event {
		return alarms.Event{Seq: seq, ID: "NH3-101:hihi", Point: "NH3-101", Cond: "hihi", Tier: 2,
			Priority: alarms.High, State: alarms.Unack, Active: true, Value: 61.5, Limit: 60, Unit: "ppm",
			Quality: "good", Time: at, Emitted: at, Site: "S", Device: "D"}
	}
	for seq := uint64(1); seq <= 40; seq++ {
		if err := j.Append([]alarms.Event{ev(seq, t0.Add(time.Duration(seq)*time.Second))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.WriteSnapshot(40, nil); err != nil {
		t.Fatal(err)
	}
	// Two hours later: events 1..40 are past Keep. The uplink has
	// taken everything, the store's outbox only up to 10.
	storeMark, uplink = 10, 40
	late := uint64(41)
	appendLate := func() {
		t.Helper()
		if err := j.Append([]alarms.Event{ev(late, t0.Add(2*time.Hour+time.Duration(late)*time.Second))}); err != nil {
			t.Fatal(err)
		}
		if err := j.WriteSnapshot(late, nil); err != nil {
			t.Fatal(err)
		}
		late++
	}
	appendLate()
	if j.First() > 11 {
		t.Fatalf("first event %d: retention removed events the store had not consumed (mark 10)", j.First())
	}
	// The store caught up, the uplink is behind now.
	storeMark, uplink = late, 20
	appendLate()
	if j.First() > 21 {
		t.Fatalf("first event %d: retention removed events the uplink had not consumed (cursor 20)", j.First())
	}
	kept := j.First()
	// Every consumer has everything: the expired segments go, unreported.
	storeMark, uplink = late-1, late-1
	appendLate()
	if j.First() <= kept || j.Damage().Any() {
		t.Fatalf("first event %d, damage %+v: consumed segments past Keep not removed, or reported as damage", j.First(), j.Damage())
	}
	// A store without InfluxDB does not consume: it holds nothing back.
	storeOK, uplink = false, late
	if got := consumedBy(func() (uint64, bool) { return 0, storeOK }, func() (uint64, bool) { return uplink, true })(); got != late {
		t.Fatalf("consumed %d, want the uplink's %d", got, late)
	}
}
