package modbus

import (
	"fmt"
	"testing"
	"time"

	gmb "github.com/goburrow/modbus"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus/modbustest"
)

// benchPoints is a detector-like device: 50 points, half uint16, half
// float32 CDAB, on consecutive holding registers (75 registers).
func benchPoints(b *testing.B) ([]spec, []byte) {
	var pts []spec
	reg := 0
	for j := 0; j < 50; j++ {
		addr := reg
		cp := configs.Point{ID: fmt.Sprintf("P%02d", j), Register: "holding", Address: &addr, Type: "uint16", Range: []float64{0, 1000}}
		if j%2 == 1 {
			cp.Type, cp.Order = "float32", "CDAB"
			reg += 2
		} else {
			reg++
		}
		p, err := compilePoint(&cp)
		if err != nil {
			b.Fatal(err)
		}
		pts = append(pts, p)
	}
	regs := make([]byte, 2*reg)
	for i := range regs {
		regs[i] = byte(i)
	}
	return pts, regs
}

// BenchmarkDecode: decode, scale and classify one point (ns/op is per point).
func BenchmarkDecode(b *testing.B) {
	pts, regs := benchPoints(b)
	now := time.Now()
	batch := make([]drivers.Sample, 0, len(pts))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(pts) == 0 {
			batch = batch[:0]
		}
		p := &pts[i%len(pts)]
		batch = append(batch, p.sample(p.raw(regs, 0), now))
	}
}

// BenchmarkPlan: planning a 50-point device, reported per point.
func BenchmarkPlan(b *testing.B) {
	specs, _ := benchPoints(b)
	var pts []point
	for _, s := range specs {
		pts = append(pts, s.point)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan(pts, 10)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/point")
}

// rtuWire is the wire time at 115200 8E1 (11 bits a character) of a
// 10-register read: 8 request + 25 reply characters.
const (
	rtuBaud   = 115200
	rtuChars  = 8 + 25
	rtuSil    = 1750 * time.Microsecond
	rtuWireNs = rtuChars * 11 * int64(time.Second) / rtuBaud
)

// BenchmarkRTU10Registers reads 10 holding registers over a socat pty from a
// slave that answers after the wire time plus its 3.5-character silence, as
// a real line at 115200 baud would. Reported: transactions/s, and the time
// each transaction took beyond the emulated line (wire + both silences).
// "own" is this package's transport, "goburrow" goburrow's stock RTU client
// (fixed sleep per request).
func BenchmarkRTU10Registers(b *testing.B) {
	slaveDelay := time.Duration(rtuWireNs) + rtuSil
	line := slaveDelay + rtuSil // + our silence before the next request
	run := func(b *testing.B, line time.Duration, read func() ([]byte, error)) {
		for range 3 { // warm-up
			if _, err := read(); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := read()
			if err != nil || len(res) != 20 {
				b.Fatalf("read: %v (%d bytes)", err, len(res))
			}
		}
		per := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(time.Second)/float64(per), "tx/s")
		b.ReportMetric(float64(per-line)/1e3, "added_us/tx")
	}
	own := func(b *testing.B, delay, line time.Duration, start func(testing.TB) *modbustest.RTUSlave) {
		sl := start(b)
		sl.Unit(1).SetDelay(delay)
		sl.Unit(1).SetHolding(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		tr := &rtuTransport{serial: true, flush: flushInput, silence: silenceFor(rtuBaud, 11), timeout: time.Second,
			open: func() (conn, error) { return openSerial(sl.Path, rtuBaud, 8, "E", 1) }}
		defer tr.Close()
		h := &gmb.RTUClientHandler{}
		h.SlaveId = 1
		c := gmb.NewClient2(h, tr)
		run(b, line, func() ([]byte, error) { return c.ReadHoldingRegisters(0, 10) })
	}
	b.Run("own", func(b *testing.B) { own(b, slaveDelay, line, modbustest.StartRTU) })
	// The slave answers at once: everything beyond our 3.5-character
	// silence is the driver's (and the pty's and the slave's) own time.
	b.Run("own-instant", func(b *testing.B) { own(b, 0, rtuSil, modbustest.StartRTU) })
	// The same two on a kernel pty pair: no socat relaying each frame
	// through a second process, so what remains is the driver, the kernel's
	// pty and the in-process slave.
	b.Run("own-kpty", func(b *testing.B) { own(b, slaveDelay, line, modbustest.StartRTUKernel) })
	b.Run("own-kpty-instant", func(b *testing.B) { own(b, 0, rtuSil, modbustest.StartRTUKernel) })
	// The floor: a bare write and read of the same frames on the same pty
	// with no Modbus code (socat relays each frame twice), back to back
	// ("raw-pty") and with the 1.75 ms silence before each request
	// ("raw-pty-silence": the line, socat and the slave go idle in between,
	// as they do for our transport).
	raw := func(b *testing.B, silence time.Duration, start func(testing.TB) *modbustest.RTUSlave) {
		sl := start(b)
		sl.Unit(1).SetHolding(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		f, err := openSerial(sl.Path, rtuBaud, 8, "E", 1)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		h := &gmb.RTUClientHandler{}
		h.SlaveId = 1
		req, _ := h.Encode(&gmb.ProtocolDataUnit{FunctionCode: 3, Data: []byte{0, 0, 0, 10}})
		buf := make([]byte, 64)
		last := time.Now()
		run(b, silence, func() ([]byte, error) {
			waitUntil(last.Add(silence))
			if _, err := f.Write(req); err != nil {
				return nil, err
			}
			n := 0
			for n < 25 {
				m, err := f.Read(buf[n:])
				if err != nil {
					return nil, err
				}
				n += m
			}
			last = time.Now()
			return buf[3:23], nil
		})
	}
	b.Run("raw-pty", func(b *testing.B) { raw(b, 0, modbustest.StartRTU) })
	b.Run("raw-pty-silence", func(b *testing.B) { raw(b, rtuSil, modbustest.StartRTU) })
	b.Run("raw-kpty", func(b *testing.B) { raw(b, 0, modbustest.StartRTUKernel) })
	b.Run("raw-kpty-silence", func(b *testing.B) { raw(b, rtuSil, modbustest.StartRTUKernel) })
	b.Run("goburrow", func(b *testing.B) {
		sl := modbustest.StartRTU(b)
		sl.Unit(1).SetDelay(slaveDelay)
		sl.Unit(1).SetHolding(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		h := gmb.NewRTUClientHandler(sl.Path)
		h.BaudRate, h.DataBits, h.Parity, h.StopBits, h.SlaveId, h.Timeout = rtuBaud, 8, "E", 1, 1, time.Second
		if err := h.Connect(); err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		c := gmb.NewClient(h)
		run(b, line, func() ([]byte, error) { return c.ReadHoldingRegisters(0, 10) })
	})
}
