package configs

import (
	"strings"
	"time"
)

// The gateway watches itself through a device of its own (docs/ARCHITECTURE.md,
// "Self-monitoring"): its failures are alarms like any other. The device
// joins the config in Load, before validation, so `check` counts and checks
// it exactly as `run` runs it. The ids are reserved.
const (
	SelfDevice  = "_GATEWAY"
	SelfOutbox  = "_GW.OUTBOX"  // the outbox refuses samples (only alarm events left, disk bound reached) or the disk refuses writes
	SelfJournal = "_GW.JOURNAL" // the alarm journal cannot write (alarms are shown but not kept), was found damaged, or journal_max_bytes deleted young events
	// SelfEvery is how often the gateway feeds its own points.
	SelfEvery = time.Second
	// DriverInternal is the driver of built-in devices: no installer may
	// use it and no protocol driver polls it.
	DriverInternal = "internal"
)

// reserved reports whether an installer's device or point id belongs to
// the gateway itself.
func reserved(id string) bool {
	return id == SelfDevice || strings.HasPrefix(id, "_GW.")
}

// addBuiltin appends the built-in devices, defaults set.
func (c *Config) addBuiltin() {
	on := true
	pt := func(id, name string) Point {
		one, fd := 1.0, Duration(0)
		return Point{ID: id, Name: name, AlarmOn: &on, Tier: 1, Priority: "high", Type: "bool",
			Scale: &one, Order: "ABCD", Stale: Duration(10 * SelfEvery), FaultDelay: &fd}
	}
	c.Devices = append(c.Devices, Device{ID: SelfDevice, Name: "Gateway self-monitoring", Driver: DriverInternal,
		Area: "gateway", Interval: Duration(SelfEvery), CommAfter: 1, Builtin: true,
		Points: []Point{
			pt(SelfOutbox, "Outbox full or disk failing: samples are being lost"),
			pt(SelfJournal, "Alarm journal cannot write to disk"),
		}})
}
