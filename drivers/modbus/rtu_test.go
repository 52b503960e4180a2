package modbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus/modbustest"
	"hazardgw/internal/testenv"
)

func rtuDev(id, path string, unit int, interval, timeout time.Duration, pts ...configs.Point) configs.Device {
	d := dev(id, "rtu", path, unit, interval, timeout, pts...)
	d.Baud, d.Parity, d.DataBits, d.StopBits = 115200, "E", 8, 1
	return d
}

// TestRTUDeadSlaveSharedBus: three detectors on one line, one dead. The
// dead one's points go bad/comm and it is demoted (probed less often than
// its interval); the live ones keep polling, good, and the dead one comes
// back. That a probe never delays a live poll is TestPick's.
func TestRTUDeadSlaveSharedBus(t *testing.T) {
	sl := modbustest.StartRTU(t)
	const interval, timeout = 400 * time.Millisecond, 200 * time.Millisecond
	var devs []configs.Device
	for u := 1; u <= 3; u++ {
		sl.Unit(byte(u)).SetHolding(0, uint16(100*u))
		devs = append(devs, rtuDev(fmt.Sprintf("GD%d", u), sl.Path, u, interval, timeout, pt(fmt.Sprintf("GAS%d", u), "holding", 0, "uint16")))
	}
	sl.Unit(2).SetMode(modbustest.Silent)
	drv, c := start(t, Options{MaxDemote: time.Second}, devs...)
	c.wait(t, 5*time.Second, "GAS2 bad/comm", is("GAS2", drivers.Bad, drivers.CauseComm))
	testenv.WaitFor(t, 5*time.Second, "GD2 down", func() bool { return drv.Health()[1].State == "down" })
	// Watch the live devices for 4 s once GD2 is demoted.
	const window = 4 * time.Second
	from := time.Now()
	c.waitAfter(t, c.mark(), 10*time.Second, "4 s of polls", func(s drivers.Sample) bool { return s.Time.Sub(from) > window })
	for _, id := range []drivers.PointID{"GAS1", "GAS3"} {
		polls := 0
		for _, s := range c.all(id) {
			if s.Time.After(from) && s.Time.Sub(from) <= window {
				if s.Quality != drivers.Good {
					t.Errorf("%s: %+v", id, s)
				}
				polls++
			}
		}
		// The live devices keep polling while the dead slave is demoted.
		// How its probes are fitted between their polls (never delaying
		// one) is TestPick's, on the scheduler's own clock: wall-clock
		// gaps here would measure the machine's load, not the bus.
		if polls == 0 {
			t.Errorf("%s: no poll in %v while GD2 was down", id, window)
		}
	}
	// The dead slave was probed less often than its interval.
	var probes int
	for _, s := range c.all("GAS2") {
		if s.Time.After(from) && s.Time.Sub(from) <= window {
			probes++
		}
	}
	if probes > 6 {
		t.Errorf("dead slave probed %d times in %v: not demoted", probes, window)
	}
	// It comes back.
	sl.Unit(2).SetMode(modbustest.Normal)
	c.waitAfter(t, c.mark(), 5*time.Second, "GAS2 back", value("GAS2", 200))
}

// TestRTUBadReplies: a reply with a wrong CRC, a well-formed reply one
// register short, and half a reply each make the poll bad/comm; the next
// good reply is read correctly.
func TestRTUBadReplies(t *testing.T) {
	sl := modbustest.StartRTU(t)
	u := sl.Unit(7)
	u.SetHolding(0, 11, 22)
	d := rtuDev("R", sl.Path, 7, 50*time.Millisecond, 100*time.Millisecond, pt("A", "holding", 0, "uint16"), pt("B", "holding", 1, "uint16"))
	d.CommAfter = 100
	_, c := start(t, Options{}, d)
	c.wait(t, 5*time.Second, "A=11", value("A", 11))
	for _, mode := range []modbustest.Mode{modbustest.Garbage, modbustest.Short, modbustest.Truncated} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			u.SetMode(mode)
			c.waitAfter(t, c.mark(), 5*time.Second, "B bad/comm", is("B", drivers.Bad, drivers.CauseComm))
			u.SetMode(modbustest.Normal)
			m := c.mark()
			c.waitAfter(t, m, 5*time.Second, "A=11", value("A", 11))
			c.waitAfter(t, m, 5*time.Second, "B=22", value("B", 22))
		})
	}
	noMixUp(t, c, 11, 22)
}

// noMixUp fails if c holds a good sample of A other than a, or of B other
// than b (one unit's answer taken for the other's).
func noMixUp(t *testing.T, c *collector, a, b float64) {
	t.Helper()
	for _, s := range c.all("") {
		if s.Quality == drivers.Good && (s.Point == "A" && s.Value != a || s.Point == "B" && s.Value != b) {
			t.Fatalf("mixed-up value %+v", s)
		}
	}
}

// TestRTULateReply: a reply after the timeout is discarded; the next poll
// gets its own answer.
func TestRTULateReply(t *testing.T) {
	sl := modbustest.StartRTU(t)
	u1, u2 := sl.Unit(1), sl.Unit(2)
	u1.SetHolding(0, 1)
	u2.SetHolding(0, 2)
	d1 := rtuDev("L1", sl.Path, 1, 50*time.Millisecond, 80*time.Millisecond, pt("A", "holding", 0, "uint16"))
	d2 := rtuDev("L2", sl.Path, 2, 50*time.Millisecond, 80*time.Millisecond, pt("B", "holding", 0, "uint16"))
	d1.CommAfter, d2.CommAfter = 100, 100
	_, c := start(t, Options{}, d1, d2)
	c.wait(t, 5*time.Second, "A=1", value("A", 1))
	u1.SetDelay(100 * time.Millisecond)
	c.waitAfter(t, c.mark(), 5*time.Second, "A bad/comm", is("A", drivers.Bad, drivers.CauseComm))
	u1.SetDelay(0)
	m := c.mark()
	c.waitAfter(t, m, 5*time.Second, "A=1", value("A", 1))
	c.waitAfter(t, m, 5*time.Second, "B=2", value("B", 2))
	noMixUp(t, c, 1, 2)
}

// TestRTUWriteAndTypes writes over RTU and reads coils and discretes back.
func TestRTUWriteAndTypes(t *testing.T) {
	sl := modbustest.StartRTU(t)
	u := sl.Unit(4)
	u.SetDiscrete(9, true)
	u.SetInput(3, 0x4148, 0)
	f := pt("T", "input", 3, "float32")
	_, _ = u, f
	drv, c := start(t, Options{}, rtuDev("RW", sl.Path, 4, 100*time.Millisecond, 200*time.Millisecond,
		pt("FIRE", "discrete", 9, "bool"), f, pt("FAN", "coil", 0, "bool"), pt("SET", "holding", 20, "int32")))
	c.wait(t, 5*time.Second, "FIRE=1", value("FIRE", 1))
	c.wait(t, 5*time.Second, "T=12.5", value("T", 12.5))
	if err := drv.Write(context.Background(), "FAN", 1); err != nil {
		t.Fatal(err)
	}
	if err := drv.Write(context.Background(), "SET", -2); err != nil {
		t.Fatal(err)
	}
	if !u.Coil(0) || u.Holding(20, 2)[0] != 0xFFFF || u.Holding(20, 2)[1] != 0xFFFE {
		t.Errorf("coil %v, SET % x", u.Coil(0), u.Holding(20, 2))
	}
	c.waitAfter(t, c.mark(), 5*time.Second, "FAN=1", value("FAN", 1))
	c.waitAfter(t, c.mark(), 5*time.Second, "SET=-2", value("SET", -2))
}

// TestRTUOverTCP polls two units behind one serial gateway on one
// connection, one of them dead.
func TestRTUOverTCP(t *testing.T) {
	gw := modbustest.StartRTUOverTCP(t)
	gw.Unit(1).SetInput(5, 0xFFFF, 0xFFFE)
	gw.Unit(2).SetMode(modbustest.Silent)
	a := dev("GW1", "rtu-over-tcp", gw.Addr(), 1, 100*time.Millisecond, 100*time.Millisecond, pt("X", "input", 5, "int32"))
	b := dev("GW2", "rtu-over-tcp", gw.Addr(), 2, 100*time.Millisecond, 100*time.Millisecond, pt("Y", "input", 5, "int32"))
	drv, c := start(t, Options{}, a, b)
	c.wait(t, 5*time.Second, "X=-2", value("X", -2))
	c.wait(t, 5*time.Second, "Y bad/comm", is("Y", drivers.Bad, drivers.CauseComm))
	testenv.WaitFor(t, 5*time.Second, "GW2 down", func() bool { return drv.Health()[1].State == "down" })
	c.waitAfter(t, c.mark(), 5*time.Second, "X still read", value("X", -2))
	if st := drv.Stats(); st[0].Bus != st[1].Bus || st[0].RTT <= 0 {
		t.Errorf("stats %+v", st)
	}
}
