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
}

// SimPoint is one point's simulated behaviour. Kind selects the shape;
// the other keys are its parameters (all in engineering units and times
// since the simulator's start or loop start).
type SimPoint struct {
	Kind      string   `toml:"kind"`      // constant | ramp | noise | sine | step | leak | heartbeat
	Value     float64  `toml:"value"`     // constant, base of the others
	To        float64  `toml:"to"`        // ramp and step target, leak peak
	At        Duration `toml:"at"`        // step time, leak start
	Rise      Duration `toml:"rise"`      // ramp and leak rise time
	Hold      Duration `toml:"hold"`      // leak plateau
	Decay     Duration `toml:"decay"`     // leak decay
	Amplitude float64  `toml:"amplitude"` // sine and noise amplitude
	Period    Duration `toml:"period"`    // sine period, heartbeat toggle period
	Noise     float64  `toml:"noise"`     // added uniform noise, +/- this much
}
