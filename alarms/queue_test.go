package alarms

import (
	"testing"

	"hazardgw/drivers"
)

// TestQueue: samples beyond the bound go oldest batch first and are
// counted; events are never dropped; one wake-up covers both.
func TestQueue(t *testing.T) {
	q := NewQueue(3)
	batch := func(n int) []drivers.Sample { return make([]drivers.Sample, n) }
	if d := q.PushSamples(batch(2)); d != 0 {
		t.Fatalf("dropped %d from an empty queue", d)
	}
	for i := range 1000 {
		q.PushEvent(Event{Seq: uint64(i + 1)})
	}
	if d := q.PushSamples(batch(2)); d != 2 {
		t.Fatalf("dropped %d, want the oldest batch of 2", d)
	}
	q.PushSamples(nil)
	if s, e := q.Len(); s != 2 || e != 1000 || q.Dropped() != 2 {
		t.Fatalf("Len = %d, %d, Dropped = %d; want 2, 1000, 2", s, e, q.Dropped())
	}
	<-q.Wake()
	select {
	case <-q.Wake():
		t.Fatal("two wake-ups for one burst")
	default:
	}
	evs := q.TakeEvents()
	if len(evs) != 1000 || evs[0].Seq != 1 || evs[999].Seq != 1000 {
		t.Fatalf("took %d events", len(evs))
	}
	if b := q.TakeSamples(); len(b) != 1 || len(b[0]) != 2 {
		t.Fatalf("took %v", b)
	}
	if s, e := q.Len(); s != 0 || e != 0 {
		t.Fatalf("not empty: %d, %d", s, e)
	}
}
