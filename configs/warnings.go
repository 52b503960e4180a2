package configs

import (
	"fmt"
	"strings"
	"time"
)

// Warnings of `check` (SPEC §3, "Warnings"): values that are valid but
// likely wrong. They are positioned like errors and read
// FILE:LINE:COL: KEY.PATH: warning: message. A warning never stops `run`;
// `check -strict` refuses a config that has any.

// LELTier1, LELTier2 are the GB/T 50493-2019 §5.5 ceilings for combustible
// gas set points, in %LEL (docs/DOMAIN.md §1).
const (
	LELTier1 = 25.0
	LELTier2 = 50.0
)

// MaxGasOnDelay is the longest on-delay a gas point should have: gas and
// fire points annunciate within seconds (a 0–3 s delay against single-sample
// spikes at most).
const MaxGasOnDelay = 3 * time.Second

// ToxicGas is one toxic gas of the GB/T 50493 appendix: its tier 1 and tier 2
// ceilings in mg/m³ and its molar mass (g/mol), which converts ppm at 25 °C
// and 101.325 kPa: mg/m³ = ppm × molar / 24.45.
type ToxicGas struct {
	Tier1, Tier2 float64 // mg/m³
	Molar        float64 // g/mol
}

// ToxicGases are the gases `check` knows ceilings for, by `gas` value.
var ToxicGases = map[string]ToxicGas{
	"NH3": {20, 40, 17.031},
	"H2S": {10, 20, 34.08},
	"CO":  {20, 40, 28.01},
	"CL2": {1, 2, 70.90},
	"SO2": {5, 10, 64.066},
}

// molarVolume is the volume of one mole of gas at 25 °C, 101.325 kPa (L).
const molarVolume = 24.45

// warn records a warning at path.
func (v *validator) warn(c *Config, path, format string, args ...any) {
	w := &Error{File: v.file, Path: path, Msg: "warning: " + fmt.Sprintf(format, args...)}
	if v.ix != nil {
		p := v.ix.lookup(path)
		w.Line, w.Col = p.line, p.col
	}
	c.Warnings = append(c.Warnings, w)
}

// warnings fills c.Warnings (a valid config, defaults set).
func (v *validator) warnings(c *Config) {
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Builtin {
			continue
		}
		for j := range d.Points {
			v.pointWarnings(c, idx(idx("device", i)+".point", j), d, &d.Points[j])
		}
	}
	c.Warnings = c.Warnings.sortDedup()
}

func (v *validator) pointWarnings(c *Config, p string, d *Device, pt *Point) {
	if d.Driver == "modbus" && pt.Address != nil && (pt.Register == "holding" || pt.Register == "input") {
		switch a := *pt.Address; {
		case a >= 40001 && a <= 49999:
			v.warn(c, p+".address", "%d looks like a 1-based holding register number (4xxxx); address is 0-based: register %d is address = %d", a, a, a-40001)
		case a >= 30001 && a <= 39999:
			v.warn(c, p+".address", "%d looks like a 1-based input register number (3xxxx); address is 0-based: register %d is address = %d", a, a, a-30001)
		}
	}
	// A tier 2 discrete alarm is a fire input or a detector's alarm relay;
	// tier 1 ones are faults and supervision (zone fault, mains lost),
	// where low is the usual priority (docs/DEVIATIONS.md).
	if pt.AlarmOn != nil && pt.Tier == 2 && pt.Priority != "" && prioRank(pt.Priority) > prioRank("high") {
		v.warn(c, p+".priority", "a tier 2 discrete alarm (fire input, detector alarm relay) with priority %q: want \"high\" or \"urgent\"", pt.Priority)
	}
	analog := pt.AlarmOn == nil && pt.Type != "bool" && pt.Bit == nil
	if analog && pt.Unit == "" {
		v.warn(c, p+".unit", "analog point without unit: the console, events and the platform show a bare number")
	}
	if pt.Gas == "" {
		return
	}
	gas := strings.ToUpper(pt.Gas)
	if pt.OnDelay.D() > MaxGasOnDelay {
		v.warn(c, p+".on_delay", "on_delay %s on a gas point: gas alarms annunciate within seconds (at most %s against single-sample spikes)", pt.OnDelay.D(), MaxGasOnDelay)
	}
	if pt.Hi == nil && pt.HiHi == nil {
		v.warn(c, p+".gas", "gas point %s without hi or hihi: it never raises a gas alarm", pt.ID)
		return
	}
	type setPoint struct {
		key     string
		val     *float64
		ceiling float64
		tier    int
	}
	if gas == "LEL" {
		if u := strings.TrimSpace(pt.Unit); u != "" && !strings.EqualFold(strings.TrimPrefix(u, "%"), "LEL") {
			v.warn(c, p+".unit", "gas = \"LEL\" with unit %q: GB/T 50493 set points are in %%LEL", pt.Unit)
			return
		}
		for _, s := range []setPoint{{"hi", pt.Hi, LELTier1, 1}, {"hihi", pt.HiHi, LELTier2, 2}} {
			if s.val != nil && *s.val > s.ceiling {
				v.warn(c, p+"."+s.key, "%s = %g %%LEL is above the GB/T 50493 tier %d ceiling of %g %%LEL", s.key, *s.val, s.tier, s.ceiling)
			}
		}
		return
	}
	tg, ok := ToxicGases[gas]
	if !ok {
		return // no ceiling known for this gas
	}
	toMg := 0.0
	switch u := strings.ToLower(strings.ReplaceAll(pt.Unit, " ", "")); u {
	case "ppm":
		toMg = tg.Molar / molarVolume
	case "mg/m3", "mg/m³", "mg/nm3":
		toMg = 1
	default:
		v.warn(c, p+".unit", "gas = %q with unit %q: the GB/T 50493 ceilings are checked for ppm or mg/m³ only", pt.Gas, pt.Unit)
		return
	}
	for _, s := range []setPoint{{"hi", pt.Hi, tg.Tier1, 1}, {"hihi", pt.HiHi, tg.Tier2, 2}} {
		if s.val == nil {
			continue
		}
		if mg := *s.val * toMg; mg > s.ceiling+1e-9 {
			if toMg == 1 {
				v.warn(c, p+"."+s.key, "%s = %g mg/m³ of %s is above the GB/T 50493 tier %d ceiling of %g mg/m³", s.key, *s.val, gas, s.tier, s.ceiling)
			} else {
				v.warn(c, p+"."+s.key, "%s = %g ppm of %s (%.1f mg/m³) is above the GB/T 50493 tier %d ceiling of %g mg/m³ (%.0f ppm)",
					s.key, *s.val, gas, mg, s.tier, s.ceiling, s.ceiling/toMg)
			}
		}
	}
}

// prioRank orders priorities: 0 urgent .. 3 low.
func prioRank(p string) int {
	for i, q := range Priorities {
		if q == p {
			return i
		}
	}
	return len(Priorities)
}
