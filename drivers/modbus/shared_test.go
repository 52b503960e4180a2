package modbus

import (
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus/modbustest"
	"hazardgw/internal/testenv"
)

// TestTCPSharedAddressUnitSilentAndBack: a PLC (unit 2) and a valve
// station (unit 1) behind one Modbus TCP address, as a serial gateway
// would serve them. The valve station stops answering (its requests are
// held, not refused, like the simulator's comm loss) and later answers
// again: the PLC is polled all along, and the valve station comes back on
// a probe of its demotion backoff and is up again.
func TestTCPSharedAddressUnitSilentAndBack(t *testing.T) {
	srv := modbustest.StartTCP(t)
	vs, plc := srv.Unit(1), srv.Unit(2)
	vs.SetHolding(0, 5)
	plc.SetDiscrete(0, false)
	plc.SetHolding(0, 100)
	const maxDemote = time.Second // test-sized; the default is 30 s
	drv, c := start(t, Options{MaxDemote: maxDemote},
		dev("VS-1", "tcp", srv.Addr(), 1, 200*time.Millisecond, 150*time.Millisecond, pt("NH3-201", "holding", 0, "uint16")),
		dev("PLC-1", "tcp", srv.Addr(), 2, 100*time.Millisecond, 150*time.Millisecond,
			pt("FAN-1.RUN", "discrete", 0, "bool"), pt("PLC.W", "holding", 0, "uint16")))
	if len(drv.buses) != 1 {
		t.Fatalf("%d buses, want 1: the two units share the address", len(drv.buses))
	}
	c.wait(t, 5*time.Second, "NH3-201=5", value("NH3-201", 5))
	c.wait(t, 5*time.Second, "PLC.W=100", value("PLC.W", 100))

	vs.SetMode(modbustest.Silent)
	m := c.mark()
	c.waitAfter(t, m, 5*time.Second, "NH3-201 bad/comm", is("NH3-201", drivers.Bad, drivers.CauseComm))
	testenv.WaitFor(t, 5*time.Second, "VS-1 down", func() bool { return health(drv, "VS-1").State == "down" })

	// The neighbour is not held down: a change on the PLC is read while the
	// valve station is silent, and its polls keep coming.
	plc.SetHolding(0, 101)
	m = c.mark()
	c.waitAfter(t, m, 5*time.Second, "PLC.W=101 while VS-1 is silent", value("PLC.W", 101))
	n := 0
	c.waitAfter(t, c.mark(), 5*time.Second, "10 good PLC polls while VS-1 is silent", func(s drivers.Sample) bool {
		if s.Point == "PLC.W" && s.Quality == drivers.Good {
			n++
		}
		return n >= 10
	})
	if h := health(drv, "PLC-1"); h.State != "up" {
		t.Errorf("PLC-1 while VS-1 is silent: %+v", h)
	}
	if h := health(drv, "VS-1"); h.State != "down" {
		t.Fatalf("VS-1 answered while silent: %+v", h)
	}

	// The valve station answers again: a probe finds it (at most maxDemote
	// after the last, plus a timeout), and it is up on its interval.
	vs.SetHolding(0, 6)
	vs.SetMode(modbustest.Normal)
	m = c.mark()
	c.waitAfter(t, m, 5*time.Second, "NH3-201=6 after VS-1 answers again", value("NH3-201", 6))
	testenv.WaitFor(t, 5*time.Second, "VS-1 up again", func() bool { return health(drv, "VS-1").State == "up" })
	plc.SetHolding(0, 102)
	m = c.mark()
	c.waitAfter(t, m, 5*time.Second, "PLC.W=102 after VS-1 is back", value("PLC.W", 102))
	c.waitAfter(t, m, 5*time.Second, "NH3-201 polled on its interval again", value("NH3-201", 6))
}

func health(drv *Driver, id string) drivers.Health {
	for _, h := range drv.Health() {
		if h.ID == id {
			return h
		}
	}
	return drivers.Health{}
}

// TestSharedAddressDemotionCap: what the scenario site saw with PLC-1
// beside VS-1 (the comm-loss scenario expects NH3-201:comm back to normal
// within 15 s of the valve station answering again). Alone on its
// address a down device is probed at most SoloDemote (5 s) apart; with a
// neighbour on the same address the backoff grows to Options.MaxDemote
// (default 30 s, jittered to 15-30 s at the cap), so its return is seen up
// to 30 s late: later than the scenario allowed, but not never.
func TestSharedAddressDemotionCap(t *testing.T) {
	vs := dev("VS-1", "tcp", "127.0.0.1:15121", 1, time.Second, 300*time.Millisecond, pt("NH3-201", "holding", 0, "uint16"))
	plcBeside := dev("PLC-1", "tcp", "127.0.0.1:15121", 2, 500*time.Millisecond, 300*time.Millisecond, pt("FAN-1.RUN", "discrete", 0, "bool"))
	plcApart := plcBeside
	plcApart.Address = "127.0.0.1:15120"
	for _, tc := range []struct {
		name string
		plc  configs.Device
		want time.Duration
	}{
		{"alone on its address", plcApart, SoloDemote},
		{"PLC on the same address", plcBeside, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drv, err := New(&configs.Config{Devices: []configs.Device{vs, tc.plc}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := drv.byDev["VS-1"]
			if d.demote.Max != tc.want {
				t.Errorf("VS-1 probed at most %v apart when down, want %v", d.demote.Max, tc.want)
			}
			// The longest gap the backoff reaches: its cap.
			var longest time.Duration
			for range 20 {
				longest = max(longest, d.demote.Next())
			}
			if longest > tc.want || longest < tc.want/2 {
				t.Errorf("longest probe gap %v, want within [%v, %v]", longest, tc.want/2, tc.want)
			}
		})
	}
}
