package console

import (
	"context"
	"testing"
	"time"

	"hazardgw/drivers"
)

// With no client connected the hub keeps the latest value of every point
// (for the snapshot) but builds no samples frame; batches whose shape
// changes under the same first point still land on the right points.
func TestHubBuildsNoFramesWithoutClients(t *testing.T) {
	e := start(t, testConfig(true), Deps{}, Options{})
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	batches := [][]drivers.Sample{
		{sample("NH3-101", 1, t0), sample("FIRE-Z1", 2, t0), sample("TK-101.LT", 3, t0)},
		{sample("NH3-101", 4, t0.Add(time.Second)), sample("FIRE-Z1", 5, t0.Add(time.Second)), sample("TK-101.LT", 6, t0.Add(time.Second))},
		// Same first point, other points behind it (and one the config does not know).
		{sample("NH3-101", 7, t0.Add(2*time.Second)), sample("NOT-CONFIGURED", 8, t0.Add(2*time.Second)), sample("TK-101.LT", 9, t0.Add(2*time.Second))},
		{sample("NH3-101", 10, t0.Add(3*time.Second)), sample("TK-101.LT", 11, t0.Add(3*time.Second))},
	}
	for _, b := range batches {
		e.eng.samples(b)
	}
	want := map[string]float64{"NH3-101": 10, "FIRE-Z1": 5, "TK-101.LT": 11}
	h := e.srv.hub
	deadline := time.Now().Add(5 * time.Second)
	for {
		var last float64
		var built int
		if err := h.call(context.Background(), func() {
			row, _ := h.s.table.Load().row("NH3-101")
			last, built = h.latest.value[row], h.framesBuilt
		}); err != nil {
			t.Fatal(err)
		}
		if built != 0 {
			t.Fatalf("hub built %d samples frames with no client connected", built)
		}
		if last == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub did not take the samples within 5 s (NH3-101 = %v)", last)
		}
		time.Sleep(time.Millisecond) // polling the hub's state; no event to wait on
	}
	_, _, snap := e.dial("")
	for _, p := range snap.Points {
		w, ok := want[p.Point]
		if !ok {
			continue
		}
		if p.Value == nil || *p.Value != w {
			t.Errorf("snapshot %s = %v, want %v", p.Point, p.Value, w)
		}
		delete(want, p.Point)
	}
	if len(want) > 0 {
		t.Errorf("snapshot lacks %v", want)
	}
}
