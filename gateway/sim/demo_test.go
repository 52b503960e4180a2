package sim

import (
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// TestDemoTimeline checks that configs/demo.toml plays the incident its
// header promises, as pure values of the plant's clock (no sockets).
func TestDemoTimeline(t *testing.T) {
	cfg, err := configs.Load("../../configs/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Simulator == nil || !cfg.Simulator.Enabled || cfg.Simulator.Loop.D() != 3*time.Minute {
		t.Fatalf("demo simulator = %+v, want enabled with loop 3m", cfg.Simulator)
	}
	p, err := New(cfg, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	val := func(id string, at time.Duration) float64 {
		t.Helper()
		v, err := p.Value(id, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// first returns the first second at which cond holds for point id.
	first := func(id string, cond func(float64) bool) time.Duration {
		for s := time.Duration(0); s < 3*time.Minute; s += time.Second {
			if cond(val(id, s)) {
				return s
			}
		}
		return -1
	}
	above := func(l float64) func(float64) bool { return func(v float64) bool { return v >= l } }
	tests := []struct {
		name     string
		id       string
		cond     func(float64) bool
		from, to time.Duration // the first time cond holds must lie in [from, to]
	}{
		{"NH3 tier 1", "NH3-101", above(30), 20 * time.Second, 30 * time.Second},
		{"NH3 tier 2", "NH3-101", above(60), 25 * time.Second, 40 * time.Second},
		{"NH3 exhaust level", "NH3-101", above(150), 45 * time.Second, 60 * time.Second},
		{"tank hi", "TK-101.LT", above(85), 60 * time.Second, 80 * time.Second},
		{"tank hihi", "TK-101.LT", above(90), 75 * time.Second, 100 * time.Second},
		{"fire", "FIRE-Z1", above(1), 100 * time.Second, 100 * time.Second},
		{"gas head fault", "NH3-104", func(v float64) bool { q, _ := drivers.Classify(v, 0, 100); return q == drivers.Bad }, 140 * time.Second, 140 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := first(tt.id, tt.cond); got < tt.from || got > tt.to {
				t.Errorf("%s first at %v, want within [%v, %v]", tt.id, got, tt.from, tt.to)
			}
		})
	}
	t.Run("redundant pair drifts apart", func(t *testing.T) {
		if d := val("TK-101.LT", 100*time.Second) - val("TK-101.LT2", 100*time.Second); d < 1.9 || d > 2.1 {
			t.Errorf("servo - radar at 100s = %v, want 2", d)
		}
	})
	t.Run("alarms clear before the loop restarts", func(t *testing.T) {
		for id, limit := range map[string]float64{"NH3-101": 28, "FIRE-Z1": 0.5} {
			if v := val(id, 179*time.Second); v >= limit {
				t.Errorf("%s at 179s = %v, want below %v", id, v, limit)
			}
		}
	})
	t.Run("loop replays the leak", func(t *testing.T) {
		if v := val("NH3-101", 3*time.Minute+60*time.Second); v < 150 {
			t.Errorf("NH3-101 at 3m60s = %v, want the leak again", v)
		}
	})
	t.Run("valve station comm loss", func(t *testing.T) {
		for at, want := range map[time.Duration]bool{149 * time.Second: false, 155 * time.Second: true, 171 * time.Second: false} {
			p.mu.Lock()
			got := p.lostLocked(p.devices["VS-1"], t0.Add(at))
			p.mu.Unlock()
			if got != want {
				t.Errorf("VS-1 lost at %v = %v, want %v", at, got, want)
			}
		}
	})
	if len(p.slaves) != 2 || len(p.pubs) != 1 {
		t.Errorf("demo plant has %d slaves and %d publishers, want 2 and 1", len(p.slaves), len(p.pubs))
	}
}
