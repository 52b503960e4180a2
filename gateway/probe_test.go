package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"hazardgw/drivers/modbus/modbustest"
	"hazardgw/drivers/mqtt/mqtttest"
)

// TestProbe reads a real Modbus TCP slave (simonvetter) and a real MQTT
// broker (mochi) once: every point is one line with its value, unit,
// quality and raw registers or payload; a dead device makes exit 1.
func TestProbe(t *testing.T) {
	slave := modbustest.StartTCP(t)
	f := math.Float32bits(12.5)
	slave.Unit(1).SetHolding(0, 250, uint16(f>>16), uint16(f))
	slave.Unit(1).SetDiscrete(4, true)
	broker := mqtttest.StartMochi(t)
	pub := broker.Publisher(t)
	if tok := pub.Publish("plant/tank/TK-101", 1, true, []byte(`{"level": 42.5}`)); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	cfg := writeFile(t, t.TempDir(), "probe.toml", fmt.Sprintf(`
[site]
id = "PROBE-01"
[[broker]]
name = "plant"
url = %q
[[device]]
id = "GC-1"
driver = "modbus"
address = %q
  [[device.point]]
  id = "NH3-101"
  unit = "ppm"
  register = "holding"
  address = 0
  type = "uint16"
  scale = 0.1
  [[device.point]]
  id = "LEL-1"
  unit = "%%LEL"
  register = "holding"
  address = 1
  type = "float32"
  [[device.point]]
  id = "FIRE-Z1"
  register = "discrete"
  address = 4
  type = "bool"
  alarm_on = true
[[device]]
id = "TANKS"
driver = "mqtt"
broker = "plant"
  [[device.point]]
  id = "TK-101.LT"
  unit = "%%"
  topic = "plant/tank/TK-101"
  path = "level"
`, broker.URL, slave.Addr()))

	r := runCLI(t, "probe", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range [][]string{
		{"GC-1", "NH3-101", "25", "ppm", "good", "0x00FA"},
		{"GC-1", "LEL-1", "12.5", "%LEL", "good", "0x4148 0x0000"},
		{"GC-1", "FIRE-Z1", "1", "good"},
		{"TANKS", "TK-101.LT", "42.5", "%", "good", `{"level": 42.5}`},
	} {
		if !hasLine(r.stdout, want) {
			t.Errorf("no line with %q in\n%s", want, r.stdout)
		}
	}

	// One device only, and a dead one: exit 1, the point bad/comm.
	if err := slave.Stop(); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "probe", "-config", cfg, "-device", "GC-1")
	if r.code != 1 || strings.Contains(r.stdout, "TANKS") || !hasLine(r.stdout, []string{"GC-1", "NH3-101", "bad", "comm"}) ||
		!strings.Contains(r.stderr, "GC-1 did not answer") {
		t.Fatalf("dead device: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// hasLine reports whether one line of out has every field of want, in order.
func hasLine(out string, want []string) bool {
	for _, l := range strings.Split(out, "\n") {
		rest, ok := l, true
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}
