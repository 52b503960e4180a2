package store

import (
	"testing"
	"time"

	"hazardgw/alarms/alarmstest"
)

// TestEventsMark: what the journal's retention holds on to for the store
// is the seq durably in the outbox (events.mark), readable from any
// goroutine; a store without InfluxDB takes nothing from the journal.
func TestEventsMark(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := &alarmstest.Log{}
	j.Append(event(1))
	s := run(t, config(dir, deadURL(t), "db/autogen", 1<<30, "A1"), Options{Journal: j})
	for seq := uint64(2); seq <= 4; seq++ {
		j.Append(event(seq))
		s.Event(event(seq))
	}
	waitFor(t, 10*time.Second, "events up to 4 marked durable in the outbox", func() bool {
		seq, ok := s.EventsMark()
		return ok && seq == 4
	})

	local, err := New(config(t.TempDir(), "", "", 1<<30, "A1"), Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok := local.EventsMark(); ok {
		t.Fatalf("a store without InfluxDB reports mark %d: it would hold back the journal's retention", seq)
	}
}
