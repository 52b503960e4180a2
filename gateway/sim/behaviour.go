package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"hazardgw/configs"
)

// Kinds of behaviour (configs.SimPoint.Kind). An empty kind is constant.
var kinds = map[string]bool{
	"": true, "constant": true, "ramp": true, "noise": true, "sine": true,
	"step": true, "leak": true, "heartbeat": true, "follow": true, "feedback": true,
}

// noiseStep is how long one pseudo-random noise value holds.
const noiseStep = 500 * time.Millisecond

// Shape returns the value of behaviour b at elapsed time t (since the
// simulator's start or loop start) before noise, fault and follow, which
// Value adds. It is a pure function of its arguments.
//
//	constant  Value
//	ramp      Value until At, then linear to To over Rise, then To
//	noise     Value +/- Amplitude (pseudo-random, new every 500ms)
//	sine      Value + Amplitude x sin(2 pi t / Period)
//	step      Value until At, To from At (until Until, when set)
//	leak      Value until At, linear rise to To over Rise, To for Hold,
//	          exponential decay back to Value with time constant Decay/5
//	heartbeat 0/1 toggling every Period, stuck from Freeze
//	follow    Value (Plant adds the followed point's value and the drift)
//	feedback  Value (Plant reads the coil, after Delay, unless Stuck)
func Shape(b *configs.SimPoint, t time.Duration, seed uint64) float64 {
	switch b.Kind {
	case "ramp":
		return b.Value + (b.To-b.Value)*frac(t-b.At.D(), b.Rise.D())
	case "noise":
		return b.Value + b.Amplitude*uniform(seed, t, 1)
	case "sine":
		if b.Period <= 0 {
			return b.Value
		}
		return b.Value + b.Amplitude*math.Sin(2*math.Pi*t.Seconds()/b.Period.D().Seconds())
	case "step":
		if t >= b.At.D() && (b.Until <= 0 || t < b.Until.D()) {
			return b.To
		}
		return b.Value
	case "leak":
		return leak(b, t)
	case "heartbeat":
		if b.Period <= 0 {
			return 0
		}
		if b.Freeze > 0 && t > b.Freeze.D() {
			t = b.Freeze.D()
		}
		return float64((t / b.Period.D()) % 2)
	}
	return b.Value // constant, follow, feedback
}

func leak(b *configs.SimPoint, t time.Duration) float64 {
	t -= b.At.D()
	switch {
	case t < 0:
		return b.Value
	case t < b.Rise.D():
		return b.Value + (b.To-b.Value)*frac(t, b.Rise.D())
	}
	t -= b.Rise.D()
	if t < b.Hold.D() {
		return b.To
	}
	t -= b.Hold.D()
	if b.Decay <= 0 {
		return b.Value
	}
	if t >= b.Decay.D() {
		return b.Value
	}
	// Exponential decay (a room being ventilated) that reaches the base
	// within Decay: five time constants leave 0.7 %, cut to zero at Decay.
	tau := b.Decay.D().Seconds() / 5
	return b.Value + (b.To-b.Value)*math.Exp(-t.Seconds()/tau)
}

// frac is how far t is through a transition of length d, clamped to [0, 1];
// a zero-length transition jumps at t = 0.
func frac(t, d time.Duration) float64 {
	switch {
	case t < 0:
		return 0
	case d <= 0 || t >= d:
		return 1
	}
	return float64(t) / float64(d)
}

// uniform returns a deterministic pseudo-random number in [-1, 1] for the
// 500ms slot holding t: the same seed, slot and salt give the same number.
func uniform(seed uint64, t time.Duration, salt uint64) float64 {
	x := seed ^ (uint64(t/noiseStep) * 0x9E3779B97F4A7C15) ^ (salt * 0xBF58476D1CE4E5B9)
	// splitmix64 finaliser.
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11)/float64(1<<52) - 1
}

// Noise returns the noise b adds at t (+/- b.Noise).
func Noise(b *configs.SimPoint, t time.Duration, seed uint64) float64 {
	if b.Noise == 0 {
		return 0
	}
	return b.Noise * uniform(seed, t, 2)
}

// Drift returns how far a follow point has drifted from its leader at t:
// Drift units per second from At, at most DriftMax in size (0: no bound).
func Drift(b *configs.SimPoint, t time.Duration) float64 {
	if b.Drift == 0 || t <= b.At.D() {
		return 0
	}
	d := b.Drift * (t - b.At.D()).Seconds()
	if b.DriftMax > 0 && math.Abs(d) > b.DriftMax {
		d = math.Copysign(b.DriftMax, d)
	}
	return d
}

// Fault returns the value a NAMUR NE 43 fault makes the point read at t,
// and whether the fault window holds at t. lo and hi are the point's
// range: FaultMA mA reads as lo + (mA-4)/16 x (hi-lo).
func Fault(b *configs.SimPoint, t time.Duration, lo, hi float64) (float64, bool) {
	if !b.HasFault() || t < b.FaultAt.D() || (b.FaultFor > 0 && t >= b.FaultAt.D()+b.FaultFor.D()) {
		return 0, false
	}
	return MilliampsToValue(faultMA(b), lo, hi), true
}

func faultMA(b *configs.SimPoint) float64 {
	if b.FaultMA == nil {
		return 2.0
	}
	return *b.FaultMA
}

// MilliampsToValue maps a 4-20 mA loop current onto the range [lo, hi].
func MilliampsToValue(ma, lo, hi float64) float64 { return lo + (ma-4)/16*(hi-lo) }

// seedOf derives a point's noise seed from its id, so every point has its
// own noise and a run is reproducible.
func seedOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// check validates a behaviour against its point (range for faults, a
// known kind, a followed point that exists).
func check(b *configs.SimPoint, p *configs.Point, exists func(string) bool) error {
	if !kinds[b.Kind] {
		return fmt.Errorf("unknown sim kind %q (want constant, ramp, noise, sine, step, leak, heartbeat, follow or feedback)", b.Kind)
	}
	if b.Kind == "feedback" && (b.Coil == nil || *b.Coil < 0 || *b.Coil > 65535) {
		return fmt.Errorf("sim feedback needs coil, the address 0..65535 of the coil it follows on the point's device")
	}
	if b.HasFault() && len(p.Range) != 2 {
		return fmt.Errorf("sim fault needs the point's range")
	}
	if b.Kind == "follow" {
		if b.Follow == "" || !exists(b.Follow) {
			return fmt.Errorf("sim follow %q: no such simulated point", b.Follow)
		}
		if b.Follow == p.ID {
			return fmt.Errorf("sim follow: a point cannot follow itself")
		}
	}
	return nil
}
