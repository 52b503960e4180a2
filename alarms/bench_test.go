package alarms

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// benchConfig builds a site of n points with mixed rules: 40 % gas heads
// (range, hi, hihi, deadband, on-delay, fault), 20 % tank levels (lo,
// lolo, hi, roc), 20 % discrete inputs (alarm_on), 20 % temperatures (hi,
// deadband, on/off-delay, latch). 100 points per device.
func benchConfig(n int) *configs.Config {
	f := func(v float64) *float64 { return &v }
	on := true
	cfg := &configs.Config{Site: configs.Site{ID: "BENCH"}}
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			cfg.Devices = append(cfg.Devices, configs.Device{ID: fmt.Sprintf("D%03d", i/100), Driver: "modbus",
				Interval: configs.Duration(time.Second)})
		}
		d := &cfg.Devices[len(cfg.Devices)-1]
		p := configs.Point{ID: fmt.Sprintf("P%05d", i), Unit: "u", Stale: configs.Duration(time.Hour)}
		switch i % 5 {
		case 0, 1:
			p.Range = []float64{0, 1000}
			p.Hi, p.HiHi, p.Deadband, p.OnDelay = f(30), f(60), 2, configs.Duration(2*time.Second)
		case 2:
			p.Lo, p.LoLo, p.Hi, p.ROC = f(10), f(5), f(90), 5
		case 3:
			p.AlarmOn = &on
			p.Tier = 2
		case 4:
			p.Hi, p.Deadband, p.Latch = f(80), 1, true
			p.OnDelay, p.OffDelay = configs.Duration(15*time.Second), configs.Duration(15*time.Second)
		}
		d.Points = append(d.Points, p)
	}
	cfg.SetDefaults()
	return cfg
}

// benchSamples: one scan of every point of cfg, values in the normal band
// with noise, so the steady state produces no event. Point ids are the
// config's strings, as drivers build them.
func benchSamples(cfg *configs.Config, r *rand.Rand) []drivers.Sample {
	var s []drivers.Sample
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			s = append(s, drivers.Sample{Point: drivers.PointID(p.ID)})
		}
	}
	for i := range s {
		v := 20 + r.Float64()*5
		if i%5 == 3 {
			v = 0
		}
		if i%5 == 2 {
			v = 50 + r.Float64()
		}
		s[i].Value = v
	}
	return s
}

// steadyMachine builds a Machine of n mixed points and 8 scans of every
// point in the normal band, warmed up by feeding each scan once through
// feed at one-second steps; it returns the scans and the last time.
func steadyMachine(b *testing.B, n int, feed func(m *Machine, now time.Time, scan []drivers.Sample)) (*Machine, [][]drivers.Sample, time.Time) {
	cfg := benchConfig(n)
	m, err := NewMachine(cfg, scenarioStart)
	if err != nil {
		b.Fatal(err)
	}
	scans := make([][]drivers.Sample, 8)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range scans {
		scans[i] = benchSamples(cfg, r)
	}
	now := scenarioStart
	for i := range scans {
		now = now.Add(time.Second)
		for j := range scans[i] {
			scans[i][j].Time = now
		}
		feed(m, now, scans[i])
	}
	m.Take()
	return m, scans, now
}

// BenchmarkEvaluate is Machine.Sample for 10,000 points of mixed rules in
// steady state (one op = one sample).
func BenchmarkEvaluate(b *testing.B) {
	const n = 10000
	m, scans, now := steadyMachine(b, n, func(m *Machine, now time.Time, scan []drivers.Sample) {
		for j := range scan {
			m.Sample(now, scan[j])
		}
	})
	steadyLoop(b, m, func(i int) { m.Sample(now, scans[(i/n)%len(scans)][i%n]) })
}

// steadyLoop runs op(i) for the benchmark's ops i = 0, 1, ... and reports
// samples per second and per CPU-second; the steady state must produce no
// event.
func steadyLoop(b *testing.B, m *Machine, op func(i int)) {
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		op(i)
		i++
	}
	reportCPU(b, cpu0)
	if len(m.Take()) != 0 {
		b.Fatal("steady state produced events")
	}
}

// BenchmarkBareCompare is the floor: look the point up and compare the
// value with one limit, nothing else.
func BenchmarkBareCompare(b *testing.B) {
	const n = 10000
	r := rand.New(rand.NewPCG(1, 1))
	samples := benchSamples(benchConfig(n), r)
	idx := map[drivers.PointID]int32{}
	lim := make([]float64, n)
	for i := range samples {
		idx[samples[i].Point] = int32(i)
		lim[i] = 30
	}
	var hits int
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		s := &samples[i%n]
		if s.Value >= lim[idx[s.Point]] {
			hits++
		}
		i++
	}
	reportCPU(b, cpu0)
	_ = hits
}

// BenchmarkMemoryPerPoint reports the heap held by a Machine of 10,000
// mixed points, per point (the config itself excluded).
func BenchmarkMemoryPerPoint(b *testing.B) {
	const n = 10000
	cfg := benchConfig(n)
	var keep *Machine
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := NewMachine(cfg, scenarioStart)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		keep = m
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/point")
	}
	runtime.KeepAlive(keep)
}

// latencyOut records when each event reaches the outputs.
type latencyOut struct{ events chan Event }

func (o latencyOut) Samples([]drivers.Sample) {}
func (o latencyOut) Event(ev Event) {
	select {
	case o.events <- ev:
	default:
	}
}

// BenchmarkActivationDurable measures, under 10,000 samples/s (batches of
// 100 points every 10 ms), the time from the Sink call carrying an
// activation to the event reaching an output, i.e. after its journal
// fsync. One op = one activation (and its clearing) in a 10 ms slot.
func BenchmarkActivationDurable(b *testing.B) {
	const n = 10000
	cfg := benchConfig(n)
	j, err := OpenJournal(b.TempDir(), JournalOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	e, err := New(cfg, j, Options{})
	if err != nil {
		b.Fatal(err)
	}
	out := latencyOut{events: make(chan Event, 1024)}
	e.Subscribe(out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	sink := e.Sink()
	r := rand.New(rand.NewPCG(2, 2))
	all := benchSamples(cfg, r)
	var lat []time.Duration
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	k := 0
	for i := 0; b.Loop(); i++ {
		<-tick.C
		batch := make([]drivers.Sample, 100)
		for x := range batch {
			batch[x] = all[(k+x)%n]
			batch[x].Time = time.Now()
		}
		k += 100
		// P00003 is a discrete point: toggling it activates / clears.
		batch[0] = drivers.Sample{Point: "P00003", Value: float64((i + 1) % 2), Time: time.Now()}
		t0 := time.Now()
		sink(batch)
		for ev := range out.events {
			if ev.ID == "P00003:on" {
				lat = append(lat, time.Since(t0))
				break
			}
		}
	}
	e.CloseInput()
	<-done
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// cpuTime is the CPU time this process has used (user + system). On a
// shared machine, samples per CPU-second is the per-core figure; wall time
// includes the time other processes held the core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	if d := cpuTime() - cpu0; d > 0 {
		b.ReportMetric(float64(b.N)/d.Seconds(), "samples/cpu-s")
	}
}

// BenchmarkEvaluateBatch is Machine.Samples over the batches drivers send
// (one device of 100 points per batch, the same points in the same order
// at every poll), 10,000 points of mixed rules in steady state. One op =
// one sample.
func BenchmarkEvaluateBatch(b *testing.B) {
	const n, per = 10000, 100
	m, scans, now := steadyMachine(b, n, func(m *Machine, now time.Time, scan []drivers.Sample) {
		for j := 0; j < n; j += per {
			m.Samples(now, scan[j:j+per])
		}
	})
	steadyLoop(b, m, func(i int) {
		if i%per == 0 {
			m.Samples(now, scans[(i/n)%len(scans)][i%n:i%n+per])
		}
	})
}

// BenchmarkMachineRetained reports the heap a Machine of 100,000 mixed
// points keeps alive once its config is no longer referenced, per point:
// what the gateway holds for the alarm engine after start (docs/
// PERFORMANCE.md). Points have names, as real configs do.
func BenchmarkMachineRetained(b *testing.B) {
	const n = 100000
	var keep *Machine
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cfg := benchConfig(n)
		for di := range cfg.Devices {
			for pi := range cfg.Devices[di].Points {
				p := &cfg.Devices[di].Points[pi]
				p.Name = fmt.Sprintf("Area %d detector %d", di, pi)
			}
		}
		m, err := NewMachine(cfg, scenarioStart)
		if err != nil {
			b.Fatal(err)
		}
		cfg = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		keep = m
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/point")
	}
	runtime.KeepAlive(keep)
}

// fieldConfig is the whole-binary bench's site (shared/bench/gateway/gen.go):
// devices x per uint16 holding registers, ids dev0001-r0 .., no name, no
// unit, no range and no alarm configured: only the implicit comm and
// stale handling of SPEC §4.
func fieldConfig(devices, per int) *configs.Config {
	cfg := &configs.Config{Site: configs.Site{ID: "BENCH"}}
	for d := 1; d <= devices; d++ {
		dev := configs.Device{ID: fmt.Sprintf("dev%04d", d), Driver: "modbus", Interval: configs.Duration(time.Second)}
		for r := 0; r < per; r++ {
			addr := r
			dev.Points = append(dev.Points, configs.Point{ID: fmt.Sprintf("dev%04d-r%d", d, r), Register: "holding",
				Address: &addr, Type: "uint16"})
		}
		cfg.Devices = append(cfg.Devices, dev)
	}
	cfg.SetDefaults()
	return cfg
}

// BenchmarkFieldRetained reports the heap a Machine of the field bench's
// 100,000 points (1000 devices x 100 registers, no alarms configured)
// keeps alive once its config is no longer referenced, and what its first
// scan adds (the batch shapes, the alarm state the samples touch).
func BenchmarkFieldRetained(b *testing.B) {
	const devices, per = 1000, 100
	var keep *Machine
	for b.Loop() {
		runtime.GC()
		var before, built, scanned runtime.MemStats
		runtime.ReadMemStats(&before)
		cfg := fieldConfig(devices, per)
		m, err := NewMachine(cfg, scenarioStart)
		if err != nil {
			b.Fatal(err)
		}
		cfg = nil
		runtime.GC()
		runtime.ReadMemStats(&built)
		scan := fieldScan(devices, per, scenarioStart.Add(time.Second))
		for d := range scan {
			m.Samples(scenarioStart.Add(time.Second), scan[d])
		}
		scan = nil
		runtime.GC()
		runtime.ReadMemStats(&scanned)
		keep = m
		b.ReportMetric(float64(built.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-built")
		b.ReportMetric(float64(scanned.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-scanned")
	}
	runtime.KeepAlive(keep)
}

// fieldScan is one poll of every device of fieldConfig: one batch per
// device, good uint16 values, point ids built as a driver builds them.
func fieldScan(devices, per int, at time.Time) [][]drivers.Sample {
	scan := make([][]drivers.Sample, devices)
	for d := range scan {
		scan[d] = make([]drivers.Sample, per)
		for r := range scan[d] {
			scan[d][r] = drivers.Sample{Point: drivers.PointID(fmt.Sprintf("dev%04d-r%d", d+1, r)),
				Value: float64(r), Quality: drivers.Good, Time: at}
		}
	}
	return scan
}

// BenchmarkFieldBatch is Machine.Samples over the field bench's polls
// (1000 devices x 100 registers, one batch per device, the same point ids
// at every poll), with AdvanceTo once a second as the engine runs it. One
// op = one sample; steady state: no event, 0 allocs.
func BenchmarkFieldBatch(b *testing.B) {
	const devices, per, n = 1000, 100, 100000
	m, err := NewMachine(fieldConfig(devices, per), scenarioStart)
	if err != nil {
		b.Fatal(err)
	}
	now := scenarioStart.Add(time.Second)
	scan := fieldScan(devices, per, now)
	for d := range scan {
		m.Samples(now, scan[d])
	}
	m.AdvanceTo(now, now)
	m.Take()
	steadyLoop(b, m, func(i int) {
		if i%per != 0 {
			return
		}
		d := (i / per) % devices
		if d == 0 {
			now = now.Add(time.Second)
			m.AdvanceTo(now, now)
		}
		for j := range scan[d] {
			scan[d][j].Time = now
		}
		m.Samples(now, scan[d])
	})
}
