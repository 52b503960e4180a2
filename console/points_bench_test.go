package console

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"

	"github.com/prometheus/client_golang/prometheus"
)

// fieldConfig is the whole-binary bench's plant (bench/gateway/gen.go):
// devices Modbus devices of points uint16 holding registers each, point
// ids dev0000-r0 .. , no alarms configured.
func fieldConfig(devices, points int) *configs.Config {
	c := testConfig(false)
	c.Devices = make([]configs.Device, devices)
	for d := range c.Devices {
		dev := &c.Devices[d]
		dev.ID, dev.Driver = fmt.Sprintf("dev%04d", d), "modbus"
		dev.Points = make([]configs.Point, points)
		for a := range dev.Points {
			addr := a
			dev.Points[a] = configs.Point{ID: fmt.Sprintf("dev%04d-r%d", d, a), Register: "holding", Address: &addr, Type: "uint16"}
		}
	}
	c.SetDefaults()
	return c
}

// fieldBatches is one poll of every device of cfg: one batch per device,
// its points in config order (as drivers/modbus sends them), point ids
// shared with cfg (as the driver's are).
func fieldBatches(cfg *configs.Config, t time.Time) [][]drivers.Sample {
	out := make([][]drivers.Sample, len(cfg.Devices))
	for d, dev := range cfg.Devices {
		b := make([]drivers.Sample, len(dev.Points))
		for a, p := range dev.Points {
			b[a] = drivers.Sample{Point: drivers.PointID(p.ID), Value: float64(a), Time: t}
		}
		out[d] = b
	}
	return out
}

// BenchmarkConsoleRetained is the heap the console keeps for 100,000
// points (1000 devices x 100 registers) once every point has been seen:
// the server (point table, hub, metrics) after New and one poll of every
// device through the hub's sample path. The config and the drivers'
// batches stay alive across the measurement (the gateway's other parts
// keep the config's point ids, and the engine's shape cache has seen
// every batch), so this is what the console adds.
//
//	go test -run '^$' -bench ConsoleRetained -benchtime 3x ./console
func BenchmarkConsoleRetained(b *testing.B) {
	const devices, points = 1000, 100
	eng := newFakeEngine("NH3-101")
	var keep *Server
	for b.Loop() {
		cfg := fieldConfig(devices, points)
		batches := fieldBatches(cfg, time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC))
		// The engine's own cache has seen every batch first (the
		// drivers' shape registry shares their ids among the caches).
		var engine drivers.ShapeCache
		for _, batch := range batches {
			engine.Indexes(batch, func(drivers.PointID) int32 { return -1 })
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := New(cfg, Deps{Engine: eng, Registry: prometheus.NewRegistry()}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range batches {
			s.Samples(batch)
			s.hub.drainSamples()
		}
		s.hub.flush()
		runtime.GC()
		runtime.ReadMemStats(&after)
		keep = s
		runtime.KeepAlive(batches)
		runtime.KeepAlive(cfg)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(devices*points), "bytes/point")
	}
	runtime.KeepAlive(keep)
}

// BenchmarkHubSamples is the hub's steady-state sample path at 100,000
// points: one iteration is one device's poll (a batch of 100 samples)
// through the queue into the point table, flushed as the hub does every
// flushAt samples; clients=1 adds one connected client whose samples
// frames are built (and taken off its queue). bytes/op and allocs/op are
// per batch of 100 samples.
//
//	go test -run '^$' -bench HubSamples -benchmem ./console
func BenchmarkHubSamples(b *testing.B) {
	for _, clients := range []int{0, 1} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			cfg := fieldConfig(1000, 100)
			s, err := New(cfg, Deps{Engine: newFakeEngine("NH3-101"), Registry: prometheus.NewRegistry()}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			h := s.hub
			var c *client
			if clients > 0 {
				c = &client{samples: make(chan []byte, 1)}
				h.clients[c] = struct{}{}
			}
			batches := fieldBatches(cfg, time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC))
			for _, batch := range batches { // every shape seen once: start-up, not steady state
				s.Samples(batch)
				h.drainSamples()
			}
			h.flush()
			if c != nil {
				for len(c.samples) > 0 {
					<-c.samples
				}
			}
			frames := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.Samples(batches[i%len(batches)])
				h.drainSamples()
				if c != nil {
					select {
					case <-c.samples:
						frames++
					default:
					}
				}
			}
			if c != nil && frames == 0 && b.N >= 2*flushAt/100 {
				b.Fatal("the client got no samples frame")
			}
		})
	}
}
