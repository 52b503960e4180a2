package modbus

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// farmConfig is the device farm of the whole-binary bench
// (bench/gateway/gen.go): n devices, each alone on its TCP address, unit 1,
// m uint16 holding registers 0..m-1 polled as points "devNNNN-rA" every
// second, no alarms.
func farmConfig(n, m int, addr func(d int) string) *configs.Config {
	cfg := &configs.Config{Site: configs.Site{ID: "BENCH"}}
	for d := 0; d < n; d++ {
		cd := configs.Device{ID: fmt.Sprintf("dev%04d", d), Driver: "modbus", Transport: "tcp", Address: addr(d),
			Interval: configs.Duration(time.Second), Timeout: configs.Duration(time.Second)}
		cd.Points = make([]configs.Point, m)
		for a := range cd.Points {
			a := a
			cd.Points[a] = configs.Point{ID: fmt.Sprintf("dev%04d-r%d", d, a), Register: "holding", Address: &a, Type: "uint16"}
		}
		cfg.Devices = append(cfg.Devices, cd)
	}
	cfg.SetDefaults()
	return cfg
}

// BenchmarkDriverRetained reports the heap a Driver of the bench's 100,000
// points (1000 devices x 100 registers) keeps alive after New: its plans,
// devices and buses. "shared-ids": the config stays referenced (as in the
// gateway, where the alarm engine, store and console hold the same point id
// strings), so the ids' bytes are the config's. "own-ids": the config is
// dropped, so the driver also keeps the ids' bytes. "metrics": with a
// Prometheus registry (the per-device children).
func BenchmarkDriverRetained(b *testing.B) {
	const devices, regs = 1000, 100
	addr := func(d int) string { return fmt.Sprintf("127.0.0.1:%d", 15020+d) }
	run := func(b *testing.B, keepCfg bool, reg func() prometheus.Registerer) {
		var keep *Driver
		for b.Loop() {
			var before, after runtime.MemStats
			var cfg *configs.Config
			if keepCfg {
				cfg = farmConfig(devices, regs, addr)
			}
			r := reg()
			runtime.GC()
			runtime.ReadMemStats(&before)
			if !keepCfg {
				cfg = farmConfig(devices, regs, addr)
			}
			drv, err := New(cfg, Options{Registerer: r})
			if err != nil {
				b.Fatal(err)
			}
			if !keepCfg {
				cfg = nil
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			keep = drv
			runtime.KeepAlive(cfg)
			runtime.KeepAlive(r)
			d := float64(after.HeapAlloc) - float64(before.HeapAlloc)
			b.ReportMetric(d/(1<<20), "MiB")
			b.ReportMetric(d/(devices*regs), "bytes/point")
		}
		runtime.KeepAlive(keep)
	}
	none := func() prometheus.Registerer { return nil }
	b.Run("shared-ids", func(b *testing.B) { run(b, true, none) })
	b.Run("own-ids", func(b *testing.B) { run(b, false, none) })
	b.Run("shared-ids-metrics", func(b *testing.B) {
		run(b, true, func() prometheus.Registerer { return prometheus.NewRegistry() })
	})
}

// holdingResponder answers Modbus TCP reads of holding registers on one
// loopback connection with register i = i, from one reused buffer: it
// allocates nothing per request, so -benchmem counts the driver only.
func holdingResponder(b *testing.B) string {
	return serveLoopback(b, func(c net.Conn) {
		var req [12]byte
		var regs [250]byte
		var rep [9 + 250]byte
		for i := 0; i < 125; i++ {
			binary.BigEndian.PutUint16(regs[2*i:], uint16(i))
		}
		for {
			if _, err := io.ReadFull(c, req[:]); err != nil {
				return
			}
			addr, qty := int(binary.BigEndian.Uint16(req[8:])), int(binary.BigEndian.Uint16(req[10:]))
			if req[7] != 3 || qty < 1 || addr+qty > 125 {
				return
			}
			copy(rep[:4], req[:4]) // transaction and protocol id
			binary.BigEndian.PutUint16(rep[4:], uint16(3+2*qty))
			rep[6], rep[7], rep[8] = req[6], 3, byte(2*qty)
			copy(rep[9:], regs[2*addr:2*(addr+qty)])
			if _, err := c.Write(rep[:9+2*qty]); err != nil {
				return
			}
		}
	})
}

// BenchmarkPollSteady is one steady-state poll of a bench device (100
// uint16 holding registers, one read) over loopback TCP, from the request
// to the batch handed to the sink: B/op and allocs/op are per poll (100
// samples). The batch itself (a fresh []drivers.Sample, kept by the
// outputs) is the one allocation the sink's contract requires.
func BenchmarkPollSteady(b *testing.B) {
	addr := holdingResponder(b)
	cfg := farmConfig(1, 100, func(int) string { return addr })
	drv, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	bus := drv.buses[0]
	d := bus.devices[0]
	defer bus.tr.Close()
	var got []drivers.Sample
	sink := func(batch []drivers.Sample) { got = batch }
	for range 3 { // connect, warm up
		bus.poll(d, sink)
	}
	if len(got) != 100 || got[99].Quality != drivers.Good || got[99].Value != 99 || got[99].Point != "dev0000-r99" {
		b.Fatalf("warm-up poll: %d samples, last %+v", len(got), got[len(got)-1])
	}
	b.ReportAllocs()
	for b.Loop() {
		bus.poll(d, sink)
	}
	if len(got) != 100 || got[0].Quality != drivers.Good {
		b.Fatalf("last poll: %d samples, first %+v", len(got), got[0])
	}
}
