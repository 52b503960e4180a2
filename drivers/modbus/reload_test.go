package modbus

import (
	"context"
	"strings"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus/modbustest"
)

// TestReloadKeepsBusAndFindsPoints: a reload that changes one device (B's
// second point moves) and lists the devices in another order keeps the
// unchanged device's bus running (the same device), restarts the other,
// and Write still finds every point on the right slave at its address.
// A and B start with the same plan (one shape shared).
func TestReloadKeepsBusAndFindsPoints(t *testing.T) {
	srvA, srvB := modbustest.StartTCP(t), modbustest.StartTCP(t)
	a := dev("A", "tcp", srvA.Addr(), 1, 50*time.Millisecond, time.Second, pt("X0", "holding", 0, "uint16"), pt("X1", "holding", 1, "uint16"))
	b := dev("B", "tcp", srvB.Addr(), 1, 50*time.Millisecond, time.Second, pt("Y0", "holding", 0, "uint16"), pt("Y1", "holding", 1, "uint16"))
	srvA.Unit(1).SetHolding(0, 10, 11)
	srvB.Unit(1).SetHolding(0, 20, 21, 22)
	drv, c := start(t, Options{}, a, b)
	c.wait(t, 5*time.Second, "X1=11", value("X1", 11))
	c.wait(t, 5*time.Second, "Y1=21", value("Y1", 21))
	drv.mu.Lock()
	oldA, oldB := drv.byDev["A"], drv.byDev["B"]
	drv.mu.Unlock()
	if oldA.sh != oldB.sh {
		t.Error("A and B compile the same points but do not share a plan")
	}

	b.Points[1] = pt("Y1", "holding", 2, "uint16")
	if err := drv.Reload(&configs.Config{Devices: []configs.Device{b, a}}); err != nil {
		t.Fatal(err)
	}
	drv.mu.Lock()
	newA, newB := drv.byDev["A"], drv.byDev["B"]
	drv.mu.Unlock()
	if newA != oldA {
		t.Error("unchanged device A was rebuilt")
	}
	if newB == oldB {
		t.Error("changed device B was kept")
	}
	m := c.mark()
	c.waitAfter(t, m, 5*time.Second, "Y1=22 from its new address", value("Y1", 22))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, w := range []struct {
		id   string
		v    float64
		u    *modbustest.Unit
		addr int
	}{{"X0", 100, srvA.Unit(1), 0}, {"X1", 101, srvA.Unit(1), 1}, {"Y0", 200, srvB.Unit(1), 0}, {"Y1", 202, srvB.Unit(1), 2}} {
		if err := drv.Write(ctx, drivers.PointID(w.id), w.v); err != nil {
			t.Fatalf("write %s: %v", w.id, err)
		}
		if got := w.u.Holding(w.addr, 1)[0]; got != uint16(w.v) {
			t.Errorf("write %s: register %d holds %d, want %v", w.id, w.addr, got, w.v)
		}
	}
}

// TestDuplicatePointIDs: a point id used twice among the modbus devices is
// an error naming the device of each later use.
func TestDuplicatePointIDs(t *testing.T) {
	_, err := New(&configs.Config{Devices: []configs.Device{
		dev("A", "tcp", "127.0.0.1:1", 1, time.Second, time.Second, pt("X", "holding", 0, "uint16"), pt("Y", "holding", 1, "uint16")),
		dev("B", "tcp", "127.0.0.1:2", 1, time.Second, time.Second, pt("Y", "holding", 0, "uint16"), pt("Z", "holding", 1, "uint16"), pt("X", "coil", 0, "bool")),
	}}, Options{})
	want := "modbus B: point Y: duplicate point id\nmodbus B: point X: duplicate point id"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if strings.Contains(err.Error(), "modbus A") {
		t.Errorf("the first use is blamed: %v", err)
	}
}
