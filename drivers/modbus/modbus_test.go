package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus/modbustest"
	"hazardgw/internal/testenv"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestDecodeGolden decodes every case of testdata/decode.txt directly.
func TestDecodeGolden(t *testing.T) {
	for _, g := range loadGolden(t) {
		t.Run(fmt.Sprintf("line%d_%s_%s", g.line, g.typ, g.order), func(t *testing.T) {
			cp := g.point("P", 0)
			p, err := compilePoint(&cp)
			if err != nil {
				t.Fatal(err)
			}
			var regs []byte
			for _, r := range g.regs {
				regs = append(regs, byte(r>>8), byte(r))
			}
			if len(g.regs) != p.span() {
				t.Fatalf("%d registers for a %s", len(g.regs), g.typ)
			}
			s := p.sample(p.raw(regs, 0), time.Unix(0, 0))
			if !near(s.Value, g.want) {
				t.Errorf("got %v, want %v", s.Value, g.want)
			}
			// Encoding is the inverse (what Write sends).
			if !p.boolean() {
				enc, err := p.encode(g.want)
				if err != nil {
					t.Fatal(err)
				}
				if string(enc) != string(regs) {
					t.Errorf("encode(%v) = % x, want % x", g.want, enc, regs)
				}
			}
		})
	}
}

// TestGoldenOverTCP reads every golden case from a real Modbus TCP server
// in one coalesced poll.
func TestGoldenOverTCP(t *testing.T) {
	srv := modbustest.StartTCP(t)
	u := srv.Unit(1)
	cases := loadGolden(t)
	var pts []configs.Point
	for i, g := range cases {
		u.SetHolding(i*4, g.regs...)
		pts = append(pts, g.point(fmt.Sprintf("P%d", g.line), i*4))
	}
	_, c := start(t, Options{}, dev("GOLD", "tcp", srv.Addr(), 1, time.Second, time.Second, pts...))
	for _, g := range cases {
		id := fmt.Sprintf("P%d", g.line)
		s := c.wait(t, 5*time.Second, id, func(s drivers.Sample) bool { return s.Point == drivers.PointID(id) })
		if s.Quality != drivers.Good || !near(s.Value, g.want) {
			t.Errorf("decode.txt:%d %s %s: got %v %v, want %v", g.line, g.typ, g.order, s.Value, s.Quality, g.want)
		}
	}
	// 38 cases x 4 registers = 152 registers: two reads of at most 125.
	if n := u.Reads(); n != 2 {
		t.Errorf("first poll took %d reads, want 2", n)
	}
}

func TestPlan(t *testing.T) {
	type p struct {
		kind Kind
		addr int
		typ  Type
	}
	cases := []struct {
		name string
		gap  int
		pts  []p
		want []string
	}{
		{"adjacent", 0, []p{{Holding, 0, Uint16}, {Holding, 1, Float32}, {Holding, 3, Uint16}}, []string{"read holding 0+4"}},
		{"gap bridged", 10, []p{{Holding, 0, Uint16}, {Holding, 11, Uint16}}, []string{"read holding 0+12"}},
		{"gap too wide", 10, []p{{Holding, 0, Uint16}, {Holding, 12, Uint16}}, []string{"read holding 0+1", "read holding 12+1"}},
		{"unsorted, overlapping", 0, []p{{Holding, 5, Float64}, {Holding, 6, Uint16}, {Holding, 4, Uint16}}, []string{"read holding 4+5"}},
		{"125 limit", 10, []p{{Holding, 0, Uint16}, {Holding, 123, Float32}, {Holding, 125, Uint16}}, []string{"read holding 0+1", "read holding 123+3"}},
		{"125 exactly", 200, []p{{Holding, 0, Uint16}, {Holding, 124, Uint16}}, []string{"read holding 0+125"}},
		{"tables apart", 10, []p{{Input, 0, Uint16}, {Holding, 0, Uint16}, {Coil, 0, Bool}, {Discrete, 0, Bool}}, []string{"read holding 0+1", "read input 0+1", "read coil 0+1", "read discrete 0+1"}},
		{"bits gap x16", 10, []p{{Coil, 0, Bool}, {Coil, 160, Bool}, {Coil, 322, Bool}}, []string{"read coil 0+161", "read coil 322+1"}},
		{"2000 bits", 200, []p{{Discrete, 0, Bool}, {Discrete, 1999, Bool}, {Discrete, 2000, Bool}}, []string{"read discrete 0+2000", "read discrete 2000+1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pts []point
			for _, x := range tc.pts {
				pts = append(pts, point{kind: x.kind, addr: uint16(x.addr), typ: x.typ, bit: -1})
			}
			var got []string
			_, reqs := plan(pts, tc.gap)
			for _, r := range reqs {
				got = append(got, r.String())
			}
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCoalescedReads counts the requests a real server receives for one
// poll of points spread over gaps and all four tables.
func TestCoalescedReads(t *testing.T) {
	srv := modbustest.StartTCP(t)
	u := srv.Unit(3)
	u.SetHolding(0, 100)
	u.SetHolding(8, 0x4148, 0) // float32 12.5 at 8
	u.SetHolding(40, 7)        // beyond the gap: a second read
	u.SetInput(2, 55)
	u.SetCoil(17, true)
	u.SetDiscrete(300, true)
	d := dev("CO", "tcp", srv.Addr(), 3, time.Hour, time.Second,
		pt("H0", "holding", 0, "uint16"), pt("H8", "holding", 8, "float32"), pt("H40", "holding", 40, "int16"),
		pt("I2", "input", 2, "uint16"), pt("C17", "coil", 17, "bool"), pt("C0", "coil", 0, "bool"),
		pt("D300", "discrete", 300, "bool"))
	_, c := start(t, Options{}, d)
	for id, v := range map[string]float64{"H0": 100, "H8": 12.5, "H40": 7, "I2": 55, "C17": 1, "C0": 0, "D300": 1} {
		c.wait(t, 5*time.Second, id, value(id, v))
	}
	// holding 0+10, holding 40+1, input 2+1, coil 0+18, discrete 300+1.
	if n := u.Reads(); n != 5 {
		t.Errorf("one poll took %d reads, want 5", n)
	}
}

// TestConfigErrors: New rejects what cannot be polled, naming device and
// point.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		p    configs.Point
		want string
	}{
		{"float32 overruns", pt("X", "holding", 65535, "float32"), "modbus D1: point X: address 65535"},
		{"float64 overruns", pt("X", "input", 65533, "float64"), "overruns the register space"},
		{"coil overruns", pt("X", "coil", 65536, "bool"), "overruns"},
		{"negative", pt("X", "holding", -1, "uint16"), "address -1"},
		{"bad register", pt("X", "analog", 0, "uint16"), `register "analog"`},
		{"bad type", pt("X", "holding", 0, "int8"), `type "int8"`},
		{"typed coil", pt("X", "coil", 0, "uint16"), "bit tables hold only bool"},
		{"bit on float", func() configs.Point { p := pt("X", "holding", 0, "float32"); b := 1; p.Bit = &b; return p }(), "bit is only"},
		{"bad order", func() configs.Point { p := pt("X", "holding", 0, "float32"); p.Order = "ACBD"; return p }(), `order "ACBD"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&configs.Config{Devices: []configs.Device{dev("D1", "tcp", "127.0.0.1:1", 1, time.Second, time.Second, tc.p)}}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// The highest address that fits is accepted.
	if _, err := New(&configs.Config{Devices: []configs.Device{dev("D1", "tcp", "127.0.0.1:1", 1, time.Second, time.Second,
		pt("X", "holding", 65534, "float32"), pt("Y", "coil", 65535, "bool"))}}, Options{}); err != nil {
		t.Fatal(err)
	}
	// Two devices with one unit on one bus.
	_, err := New(&configs.Config{Devices: []configs.Device{
		dev("A", "tcp", "127.0.0.1:1", 1, time.Second, time.Second),
		dev("B", "tcp", "127.0.0.1:1", 1, time.Second, time.Second)}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "unit already used by A") {
		t.Fatalf("err = %v", err)
	}
}

// TestTCPRestart: a slave that goes away yields bad/comm samples, and its
// values flow again once it is back on the same port.
func TestTCPRestart(t *testing.T) {
	srv := modbustest.StartTCP(t)
	srv.Unit(1).SetHolding(0, 42)
	reg := prometheus.NewRegistry()
	drv, c := start(t, Options{Registerer: reg, MaxDemote: 400 * time.Millisecond},
		dev("GC", "tcp", srv.Addr(), 1, 100*time.Millisecond, 200*time.Millisecond, pt("NH3", "holding", 0, "uint16")))
	c.wait(t, 5*time.Second, "NH3=42", value("NH3", 42))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	m := c.mark()
	c.waitAfter(t, m, 5*time.Second, "NH3 bad/comm", is("NH3", drivers.Bad, drivers.CauseComm))
	// comm_after = 2 failed polls: down.
	testenv.WaitFor(t, 5*time.Second, "device down", func() bool { return drv.Health()[0].State == "down" })
	srv.Unit(1).SetHolding(0, 43)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	m = c.mark()
	c.waitAfter(t, m, 5*time.Second, "NH3=43 after restart", value("NH3", 43))
	h := drv.Health()[0]
	if h.State != "up" || h.Errors == 0 || h.LastOK.IsZero() {
		t.Errorf("health %+v", h)
	}
	if v := counter(t, reg, "hazardgw_modbus_requests_total", "GC", resConn.String()); v == 0 {
		t.Error("no connection errors counted")
	}
	if v := counter(t, reg, "hazardgw_modbus_requests_total", "GC", resOK.String()); v == 0 {
		t.Error("no good requests counted")
	}
}

// counter reads a counter of a device (and result) from a registry.
func counter(t *testing.T, reg *prometheus.Registry, name, dev, result string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "device" && l.GetValue() != dev || l.GetName() == "result" && l.GetValue() != result {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestLateReplyTCP: replies slower than the timeout fail the poll; once the
// slave is quick again the next poll reads the right values (no reply is
// taken for another request's).
func TestLateReplyTCP(t *testing.T) {
	srv := modbustest.StartTCP(t)
	u := srv.Unit(1)
	u.SetHolding(0, 1)
	u.SetHolding(20, 2)
	d := dev("LATE", "tcp", srv.Addr(), 1, 50*time.Millisecond, 100*time.Millisecond, pt("A", "holding", 0, "uint16"), pt("B", "holding", 20, "uint16"))
	d.CommAfter = 100 // stay up: no demotion in this test
	_, c := start(t, Options{}, d)
	c.wait(t, 5*time.Second, "A=1", value("A", 1))
	u.SetDelay(150 * time.Millisecond)
	m := c.mark()
	c.waitAfter(t, m, 5*time.Second, "A bad/comm", is("A", drivers.Bad, drivers.CauseComm))
	u.SetDelay(0)
	m = c.mark()
	c.waitAfter(t, m, 5*time.Second, "A good", value("A", 1))
	// Every good sample after recovery carries its own register's value.
	c.waitAfter(t, c.mark(), 5*time.Second, "B good", value("B", 2))
	for _, s := range c.all("") {
		if s.Quality == drivers.Good && (s.Point == "A" && s.Value != 1 || s.Point == "B" && s.Value != 2) {
			t.Fatalf("mixed-up value %+v", s)
		}
	}
}

// TestExceptions: each exception code marks the request's points bad/comm
// and is counted; illegal address is logged as a configuration error;
// busy and acknowledge are retried.
func TestExceptions(t *testing.T) {
	srv := modbustest.StartTCP(t)
	log, logs := testLog()
	reg := prometheus.NewRegistry()
	var devs []configs.Device
	codes := []byte{1, 2, 3, 4, 5, 6, 8, 10, 11}
	for i, code := range codes {
		unit := 10 + i
		srv.Unit(byte(unit)).SetHolding(0, 9)
		srv.Unit(byte(unit)).SetException(code)
		d := dev(fmt.Sprintf("EX%d", code), "tcp", srv.Addr(), unit, 50*time.Millisecond, time.Second, pt(fmt.Sprintf("P%d", code), "holding", 0, "uint16"))
		devs = append(devs, d)
	}
	drv, c := start(t, Options{Log: log, Registerer: reg}, devs...)
	for _, code := range codes {
		c.wait(t, 5*time.Second, fmt.Sprintf("P%d bad/comm", code), is(fmt.Sprintf("P%d", code), drivers.Bad, drivers.CauseComm))
	}
	testenv.WaitFor(t, 5*time.Second, "errors counted", func() bool {
		for _, h := range drv.Health() {
			if h.Errors == 0 {
				return false
			}
		}
		return true
	})
	for _, h := range drv.Health() {
		if !strings.Contains(h.Err, "exception") {
			t.Errorf("%s: last error %q", h.ID, h.Err)
		}
		// The device answered: an exception is not a dead device.
		if h.State != "up" {
			t.Errorf("%s: state %s", h.ID, h.State)
		}
	}
	testenv.WaitFor(t, 5*time.Second, "log", func() bool { return strings.Contains(logs.String(), "configuration error") })
	if !strings.Contains(logs.String(), "device=EX2") || strings.Count(logs.String(), "configuration error") != 1 {
		t.Errorf("illegal address should be logged once as a configuration error naming the device:\n%s", logs)
	}
	if !strings.Contains(drv.Health()[3].Err, "modbus EX2 unit 11: read holding 0+1: exception 2 (illegal data address)") {
		t.Errorf("error text: %q", drv.Health()[3].Err)
	}
	// The exception gone, values flow.
	srv.Unit(11).SetException(0)
	c.waitAfter(t, c.mark(), 5*time.Second, "P2 good", value("P2", 9))
}

// TestBusyRetried: a device that answers busy twice then normally gives a
// good sample in that same poll.
func TestBusyRetried(t *testing.T) {
	srv := modbustest.StartTCP(t)
	u := srv.Unit(1)
	u.SetHolding(0, 5)
	u.SetExceptionFor(6, 2)
	_, c := start(t, Options{}, dev("B", "tcp", srv.Addr(), 1, time.Hour, time.Second, pt("P", "holding", 0, "uint16")))
	s := c.wait(t, 5*time.Second, "first P", func(s drivers.Sample) bool { return s.Point == "P" })
	if s.Quality != drivers.Good || s.Value != 5 {
		t.Fatalf("first sample %+v, want good 5", s)
	}
	if n := u.Reads(); n != 3 {
		t.Errorf("%d reads, want 3 (busy, busy, answer)", n)
	}
}

// TestWriteTCP writes coils, registers, wide values and bits.
func TestWriteTCP(t *testing.T) {
	srv := modbustest.StartTCP(t)
	u := srv.Unit(1)
	u.SetHolding(5, 0x00F0)
	fan := pt("FAN", "coil", 3, "bool")
	sp := pt("SP", "holding", 10, "float32")
	sp.Order = "CDAB"
	sc := 0.1
	lvl := pt("LVL", "holding", 2, "uint16")
	lvl.Scale = &sc
	bit := pt("SOUNDER", "holding", 5, "uint16")
	b := 1
	bit.Bit = &b
	ro := pt("RO", "input", 0, "uint16")
	drv, c := start(t, Options{}, dev("W", "tcp", srv.Addr(), 1, 100*time.Millisecond, time.Second, fan, sp, lvl, bit, ro))
	ctx := context.Background()
	for _, w := range []struct {
		id drivers.PointID
		v  float64
	}{{"FAN", 1}, {"SP", 12.5}, {"LVL", 42.0}, {"SOUNDER", 1}} {
		if err := drv.Write(ctx, w.id, w.v); err != nil {
			t.Fatalf("write %s: %v", w.id, err)
		}
	}
	if !u.Coil(3) {
		t.Error("coil 3 not set")
	}
	if got := u.Holding(10, 2); got[0] != 0 || got[1] != 0x4148 {
		t.Errorf("SP registers % x", got)
	}
	if got := u.Holding(2, 1)[0]; got != 420 {
		t.Errorf("LVL register %d, want 420", got)
	}
	if got := u.Holding(5, 1)[0]; got != 0x00F2 {
		t.Errorf("bit write: register %#x, want 0xf2", got)
	}
	c.wait(t, 5*time.Second, "SP read back", value("SP", 12.5))
	if err := drv.Write(ctx, "RO", 1); err == nil || !strings.Contains(err.Error(), "modbus W unit 1") {
		t.Errorf("write to an input register: %v", err)
	}
	if err := drv.Write(ctx, "NOPE", 1); !errors.Is(err, ErrUnknownPoint) {
		t.Errorf("unknown point: %v", err)
	}
	if err := drv.WriteRegister(ctx, "W", "holding", 100, 7); err != nil || u.Holding(100, 1)[0] != 7 {
		t.Errorf("WriteRegister: %v", err)
	}
	u.SetException(2)
	if err := drv.Write(ctx, "FAN", 0); err == nil || !strings.Contains(err.Error(), "modbus W unit 1: write coil 3: exception 2") {
		t.Errorf("write refused: %v", err)
	}
}

// TestTCPDeadDeviceDoesNotBlindOthers: TCP devices at different addresses
// poll in parallel; one that times out does not slow the other.
func TestTCPDeadDeviceDoesNotBlindOthers(t *testing.T) {
	dead, live := modbustest.StartTCP(t), modbustest.StartTCP(t)
	dead.Unit(1).SetMode(modbustest.Silent)
	live.Unit(1).SetHolding(0, 5)
	const interval = 100 * time.Millisecond
	drv, c := start(t, Options{},
		dev("DEAD", "tcp", dead.Addr(), 1, interval, 300*time.Millisecond, pt("X", "holding", 0, "uint16")),
		dev("LIVE", "tcp", live.Addr(), 1, interval, 300*time.Millisecond, pt("Y", "holding", 0, "uint16")))
	c.wait(t, 5*time.Second, "X bad/comm", is("X", drivers.Bad, drivers.CauseComm))
	from := time.Now()
	c.waitAfter(t, c.mark(), 5*time.Second, "2 s of polls", func(s drivers.Sample) bool { return s.Time.Sub(from) > 2*time.Second })
	n := 0
	for _, s := range c.all("Y") {
		if s.Time.After(from) && s.Time.Sub(from) <= 2*time.Second && s.Quality == drivers.Good {
			n++
		}
	}
	// 20 polls expected; one connection shared with the dead device would
	// allow about 5 (100 ms + a 300 ms timeout each).
	if n < 12 {
		t.Errorf("live device: %d good polls in 2 s at %v", n, interval)
	}
	if h := drv.Health(); h[0].ID != "DEAD" || h[1].State != "up" {
		t.Errorf("health %+v", h)
	}
}

// TestEncodeForSimulators: Encode yields what the driver reads back.
func TestEncodeForSimulators(t *testing.T) {
	srv := modbustest.StartTCP(t)
	u := srv.Unit(1)
	sc := 0.5
	pts := []configs.Point{pt("F", "holding", 0, "float32"), pt("I", "input", 10, "int64"), pt("C", "coil", 3, "bool"), pt("S", "holding", 20, "uint16")}
	pts[0].Order, pts[1].Order = "CDAB", "DCBA"
	pts[3].Scale, pts[3].Offset = &sc, -10
	want := map[string]float64{"F": 61.5, "I": -7, "C": 1, "S": 40}
	for _, p := range pts {
		regs, err := Encode(p, want[p.ID])
		if err != nil {
			t.Fatal(err)
		}
		switch p.Register {
		case "holding":
			u.SetHolding(*p.Address, regs...)
		case "input":
			u.SetInput(*p.Address, regs...)
		case "coil":
			u.SetCoil(*p.Address, regs[0] == 1)
		}
	}
	_, c := start(t, Options{}, dev("E", "tcp", srv.Addr(), 1, time.Hour, time.Second, pts...))
	for id, v := range want {
		c.wait(t, 5*time.Second, id, value(id, v))
	}
}
