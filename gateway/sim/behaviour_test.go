package sim

import (
	"math"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

func d(s string) configs.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return configs.Duration(v)
}

func ms(s string) time.Duration { return d(s).D() }

func f(v float64) *float64 { return &v }

func TestShape(t *testing.T) {
	leak := configs.SimPoint{Kind: "leak", Value: 5, To: 200, At: d("10s"), Rise: d("20s"), Hold: d("30s"), Decay: d("50s")}
	tests := []struct {
		name string
		b    configs.SimPoint
		at   string
		want float64
	}{
		{"constant", configs.SimPoint{Value: 12.5}, "1h", 12.5},
		{"constant kind", configs.SimPoint{Kind: "constant", Value: -3}, "0s", -3},
		{"ramp before start", configs.SimPoint{Kind: "ramp", Value: 40, To: 95, At: d("10s"), Rise: d("100s")}, "5s", 40},
		{"ramp midway", configs.SimPoint{Kind: "ramp", Value: 40, To: 95, At: d("10s"), Rise: d("100s")}, "60s", 67.5},
		{"ramp end holds", configs.SimPoint{Kind: "ramp", Value: 40, To: 95, At: d("10s"), Rise: d("100s")}, "500s", 95},
		{"ramp down", configs.SimPoint{Kind: "ramp", Value: 50, To: 10, Rise: d("40s")}, "10s", 40},
		{"sine zero", configs.SimPoint{Kind: "sine", Value: 20, Amplitude: 2, Period: d("60s")}, "30s", 20},
		{"sine peak", configs.SimPoint{Kind: "sine", Value: 20, Amplitude: 2, Period: d("60s")}, "15s", 22},
		{"sine trough", configs.SimPoint{Kind: "sine", Value: 20, Amplitude: 2, Period: d("60s")}, "45s", 18},
		{"sine no period", configs.SimPoint{Kind: "sine", Value: 20, Amplitude: 2}, "45s", 20},
		{"step before", configs.SimPoint{Kind: "step", Value: 0, To: 1, At: d("45s")}, "44.999s", 0},
		{"step at", configs.SimPoint{Kind: "step", Value: 0, To: 1, At: d("45s")}, "45s", 1},
		{"step until", configs.SimPoint{Kind: "step", Value: 0, To: 1, At: d("45s"), Until: d("90s")}, "90s", 0},
		{"leak before", leak, "9s", 5},
		{"leak rising", leak, "20s", 102.5},
		{"leak peak", leak, "30s", 200},
		{"leak plateau", leak, "59s", 200},
		{"leak decay start", leak, "60s", 200},
		{"leak one tau", leak, "70s", 5 + 195*math.Exp(-1)},
		{"leak over", leak, "110s", 5},
		{"leak no decay", configs.SimPoint{Kind: "leak", Value: 5, To: 200, Rise: d("10s")}, "11s", 5},
		{"heartbeat low", configs.SimPoint{Kind: "heartbeat", Period: d("2s")}, "1s", 0},
		{"heartbeat high", configs.SimPoint{Kind: "heartbeat", Period: d("2s")}, "3s", 1},
		{"heartbeat low again", configs.SimPoint{Kind: "heartbeat", Period: d("2s")}, "5s", 0},
		{"heartbeat frozen high", configs.SimPoint{Kind: "heartbeat", Period: d("2s"), Freeze: d("3s")}, "100s", 1},
		{"heartbeat frozen low", configs.SimPoint{Kind: "heartbeat", Period: d("2s"), Freeze: d("4.5s")}, "101s", 0},
		{"follow is its offset", configs.SimPoint{Kind: "follow", Value: 0.5, Follow: "X"}, "10s", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shape(&tt.b, ms(tt.at), 1)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Shape at %s = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestNoiseBoundedAndDeterministic(t *testing.T) {
	b := configs.SimPoint{Kind: "noise", Value: 10, Amplitude: 2, Noise: 0.5}
	seen := map[float64]bool{}
	for i := range 2000 {
		at := time.Duration(i) * 137 * time.Millisecond
		v := Shape(&b, at, 42) + Noise(&b, at, 42)
		if v < 7.5 || v > 12.5 {
			t.Fatalf("noise at %v = %v, outside 10 +/- 2.5", at, v)
		}
		if w := Shape(&b, at, 42) + Noise(&b, at, 42); w != v {
			t.Fatalf("noise at %v not deterministic: %v then %v", at, v, w)
		}
		seen[math.Round(v)] = true
	}
	if len(seen) < 4 {
		t.Errorf("noise takes only %d rounded values: it does not move", len(seen))
	}
	if Shape(&b, time.Second, 1) == Shape(&b, time.Second, 2) {
		t.Errorf("two seeds give the same noise")
	}
}

func TestDrift(t *testing.T) {
	tests := []struct {
		name string
		b    configs.SimPoint
		at   string
		want float64
	}{
		{"before", configs.SimPoint{Drift: 0.1, At: d("60s")}, "30s", 0},
		{"drifting", configs.SimPoint{Drift: 0.1, At: d("60s")}, "90s", 3},
		{"bounded", configs.SimPoint{Drift: 0.1, At: d("60s"), DriftMax: 5}, "600s", 5},
		{"negative bounded", configs.SimPoint{Drift: -0.1, At: d("60s"), DriftMax: 5}, "600s", -5},
		{"no drift", configs.SimPoint{At: d("60s")}, "600s", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Drift(&tt.b, ms(tt.at)); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Drift = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFaultNAMUR checks the fault overlay against SPEC §4's bands, using the
// drivers' own classification: 2 mA is bad/range, 3.7 mA uncertain.
func TestFaultNAMUR(t *testing.T) {
	tests := []struct {
		name   string
		b      configs.SimPoint
		at     string
		active bool
		want   float64
		q      drivers.Quality
	}{
		{"no fault", configs.SimPoint{}, "10s", false, 0, drivers.Good},
		{"before window", configs.SimPoint{FaultAt: d("20s")}, "10s", false, 0, drivers.Good},
		{"default 2 mA", configs.SimPoint{FaultAt: d("20s")}, "20s", true, -12.5, drivers.Bad},
		{"wire break", configs.SimPoint{FaultAt: d("20s"), FaultMA: f(0)}, "30s", true, -25, drivers.Bad},
		{"saturated low", configs.SimPoint{FaultAt: d("20s"), FaultMA: f(3.7)}, "30s", true, -1.875, drivers.Uncertain},
		{"over range", configs.SimPoint{FaultAt: d("20s"), FaultMA: f(21.5)}, "30s", true, 109.375, drivers.Bad},
		{"window over", configs.SimPoint{FaultAt: d("20s"), FaultFor: d("10s")}, "30s", false, 0, drivers.Good},
		{"window open", configs.SimPoint{FaultAt: d("20s"), FaultFor: d("10s")}, "29.9s", true, -12.5, drivers.Bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Fault(&tt.b, ms(tt.at), 0, 100)
			if ok != tt.active || (ok && math.Abs(got-tt.want) > 1e-9) {
				t.Errorf("Fault = %v, %v; want %v, %v", got, ok, tt.want, tt.active)
			}
			if q, _ := drivers.Classify(got, 0, 100); ok && q != tt.q {
				t.Errorf("the gateway classifies %v as %v, want %v", got, q, tt.q)
			}
		})
	}
}

// TestFollowCycle: a scenario that makes two points follow each other gets
// a value, not a stack overflow.
func TestFollowCycle(t *testing.T) {
	cfg, err := configs.Parse("cycle.toml", []byte(simDevice(
		"A", `sim = { value = 1 }`,
		"B", `sim = { kind = "follow", follow = "A", value = 1 }`)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Value("B", time.Now()); v != 2 {
		t.Errorf("B = %v, want A + 1 = 2", v)
	}
	p.mu.Lock()
	p.points["A"].override = &configs.SimPoint{Kind: "follow", Follow: "B"}
	p.mu.Unlock()
	if _, err := p.Value("A", time.Now()); err != nil {
		t.Fatal(err)
	}
}
