package sim

import (
	"math"
	"slices"
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
	now := t0 // the plant's clock: a master's coil write happens at now
	p, err := New(cfg, Options{Now: func() time.Time { return now }})
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
	t.Run("deviation of the redundant pair", func(t *testing.T) {
		dev := byID(t, cfg.Deviations, func(d *configs.Deviation) string { return d.ID }, "TK-101.LEVEL")
		if dev.Points[0] != "TK-101.LT" || dev.Points[1] != "TK-101.LT2" {
			t.Fatalf("deviation points = %v", dev.Points)
		}
		apart := func(at time.Duration) bool {
			return math.Abs(val("TK-101.LT", at)-val("TK-101.LT2", at)) > dev.Max
		}
		for s := time.Duration(0); s < 3*time.Minute; s += time.Second {
			if apart(s) {
				if on := s + dev.OnDelay.D(); on < 120*time.Second || on > 140*time.Second {
					t.Errorf("TK-101.LEVEL:dev due at %v, want within [120s, 140s]", on)
				}
				// It must hold for on_delay, and clear when the loop restarts.
				if !apart(s + dev.OnDelay.D()) {
					t.Errorf("deviation gone %v after it started", dev.OnDelay.D())
				}
				if apart(3*time.Minute + 10*time.Second) {
					t.Errorf("deviation still there after the loop restarted")
				}
				return
			}
		}
		t.Errorf("the gauges never deviate by more than %v", dev.Max)
	})
	// The linkages: the activation that fires each (the time its when
	// alarm's value crosses the limit), then a master's coil write at that
	// moment, then the feedback point following after its simulated delay.
	linkages := []struct {
		name, id, trigger string
		reads             string // the simulated point whose register trigger reads
		limit             float64
		from, to          time.Duration // the activation must lie in [from, to]
		feedback          string
		coil              int
	}{
		{"exhaust fan starts", "EXH-FAN-1", "NH3-101.EXH", "NH3-101", 150, 45 * time.Second, 60 * time.Second, "FAN-1.RUN", 10},
		{"feed valve closes", "XV-101", "TK-101.LT", "TK-101.LT", 90, 75 * time.Second, 100 * time.Second, "XV-101.ZSC", 12},
	}
	for _, lt := range linkages {
		t.Run(lt.name, func(t *testing.T) {
			l := byID(t, cfg.Linkages, func(l *configs.Linkage) string { return l.ID }, lt.id)
			if !slices.Contains(l.When, lt.trigger+":hihi") || l.Mode != "auto" || l.Device != "PLC-1" ||
				l.Register != "coil" || *l.Address != lt.coil || l.Feedback != lt.feedback || *l.Expect != 1 {
				t.Fatalf("linkage %s = %+v, want auto on %s:hihi writing coil %d of PLC-1, feedback %s = 1",
					lt.id, l, lt.trigger, lt.coil, lt.feedback)
			}
			fired := first(lt.reads, above(lt.limit))
			if fired < lt.from || fired > lt.to {
				t.Fatalf("%s:hihi at %v, want within [%v, %v]", lt.trigger, fired, lt.from, lt.to)
			}
			if v := val(lt.feedback, fired); v != 0 {
				t.Fatalf("%s = %v before the write, want 0", lt.feedback, v)
			}
			now = t0.Add(fired + time.Second) // the write: within 1 s of the activation
			if err := p.SetCoil("PLC-1", *l.Address, *l.Value == 1); err != nil {
				t.Fatal(err)
			}
			if on, err := p.Coil("PLC-1", *l.Address); err != nil || !on {
				t.Fatalf("coil %d after the write = %v, %v; want on", *l.Address, on, err)
			}
			written := fired + time.Second
			if v := val(lt.feedback, written+500*time.Millisecond); v != 0 {
				t.Errorf("%s = %v at once after the write, want 0 (the field takes its time)", lt.feedback, v)
			}
			ok := written + l.Confirm.D()
			if v := val(lt.feedback, ok); v != *l.Expect {
				t.Errorf("%s = %v %v after the write (confirm), want %v", lt.feedback, v, l.Confirm.D(), *l.Expect)
			}
			// The fan keeps running (a fired linkage stays fired) into the next loop.
			if v := val(lt.feedback, 3*time.Minute+fired); v != *l.Expect {
				t.Errorf("%s = %v in the next loop, want %v until a release", lt.feedback, v, *l.Expect)
			}
		})
	}
	if len(p.slaves) != 2 || len(p.pubs) != 1 {
		t.Errorf("demo plant has %d slaves and %d publishers, want 2 and 1", len(p.slaves), len(p.pubs))
	}
}

// byID returns the item of items whose id is want.
func byID[T any](t *testing.T, items []T, id func(*T) string, want string) *T {
	t.Helper()
	for i := range items {
		if id(&items[i]) == want {
			return &items[i]
		}
	}
	t.Fatalf("no %s in the demo", want)
	return nil
}
