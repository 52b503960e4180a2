package configs

// Simulator describes the simulated plant behind `gateway simulate` and the
// demo (docs/SIMULATOR.md). With Enabled, `gateway run` also starts it
// in-process. The simulated devices are the config's own [[device]]s: every
// modbus device with a loopback TCP address gets a real Modbus TCP slave on
// that address, every mqtt point with a `sim` behaviour is published on its
// topic through its broker.
type Simulator struct {
	Enabled bool     `toml:"enabled"` // run the simulator inside `gateway run`
	Loop    Duration `toml:"loop"`    // restart every behaviour's clock after this long (0: never)
	Publish Duration `toml:"publish"` // MQTT publish period (default 1s)
	// RTU serves every `transport = "rtu"` device through a pty pair made
	// by socat: the gateway opens the device's `address` (a symlink socat
	// creates), the simulator the other end, `address` + ".sim". Devices
	// sharing an address share the line. Needs socat; an address that is a
	// real device (not a symlink) is refused.
	RTU bool `toml:"rtu"`
	// CommLoss lists windows during which a simulated device stops
	// answering (Modbus: requests get no answer; MQTT: nothing published).
	CommLoss []SimCommLoss `toml:"comm_loss"`
	// RefuseWrites lists modbus devices whose simulated slave refuses
	// every write (coil or holding register) with exception 01, illegal
	// function: a PLC whose outputs are locked, for linkage scenarios.
	RefuseWrites []string `toml:"refuse_writes"`
}

// SimCommLoss is one communication-loss window of one simulated device,
// in time since the simulator's start or loop start.
type SimCommLoss struct {
	Device string   `toml:"device"` // a [[device]] id
	At     Duration `toml:"at"`     // start of the window
	For    Duration `toml:"for"`    // length of the window (0: until the loop restarts)
}

// SimPoint is one point's simulated behaviour. Kind selects the shape;
// the other keys are its parameters (all in engineering units and times
// since the simulator's start or loop start).
type SimPoint struct {
	Kind      string   `toml:"kind"`      // constant | ramp | noise | sine | step | leak | heartbeat | follow | feedback
	Value     float64  `toml:"value"`     // constant, base of the others
	To        float64  `toml:"to"`        // ramp and step target, leak peak
	At        Duration `toml:"at"`        // step time, ramp and leak start, follow drift start
	Rise      Duration `toml:"rise"`      // ramp and leak rise time
	Hold      Duration `toml:"hold"`      // leak plateau
	Decay     Duration `toml:"decay"`     // leak decay
	Amplitude float64  `toml:"amplitude"` // sine and noise amplitude
	Period    Duration `toml:"period"`    // sine period, heartbeat toggle period
	Noise     float64  `toml:"noise"`     // added noise, +/- this much (any kind)

	// Until ends a step: the value returns to Value at this time (0: never).
	Until Duration `toml:"until"`
	// Freeze stops a heartbeat toggling from this time on (0: never): the
	// frozen heartbeat of a detector whose data went stale.
	Freeze Duration `toml:"freeze"`
	// Follow names another simulated point whose value this one repeats
	// (kind follow: the second instrument of a redundant pair), drifting
	// away from it by Drift units per second from At, at most DriftMax.
	Follow   string  `toml:"follow"`
	Drift    float64 `toml:"drift"`
	DriftMax float64 `toml:"drift_max"`

	// A 4-20 mA sensor fault (NAMUR NE 43) overlaid on any kind: from
	// FaultAt for FaultFor (0: until the loop restarts) the value is what a
	// loop current of FaultMA mA reads as on the point's range
	// (range_lo + (mA-4)/16 x span). Default 2 mA (failure: <= 3.6 mA);
	// 3.6-3.8 mA reads uncertain, 0 mA is a wire break. Needs `range`.
	FaultAt  Duration `toml:"fault_at"`
	FaultFor Duration `toml:"fault_for"`
	FaultMA  *float64 `toml:"fault_ma"`

	// Kind feedback: the run feedback of an output a linkage drives. The
	// point reads the coil at address Coil of its own device (1 when set,
	// else Value) once the coil has held its state for Delay: a fan
	// whose run contact closes a few seconds after the start command.
	// Stuck: the feedback never follows (a fan that does not start); the
	// point stays at Value.
	Coil  *int     `toml:"coil"`
	Delay Duration `toml:"delay"`
	Stuck bool     `toml:"stuck"`

	// Topic overrides the point's topic for publishing (mqtt points whose
	// topic has wildcards).
	Topic string `toml:"topic"`
}

// HasFault reports whether the behaviour has a sensor-fault window.
func (s *SimPoint) HasFault() bool {
	return s.FaultMA != nil || s.FaultAt != 0 || s.FaultFor != 0
}
