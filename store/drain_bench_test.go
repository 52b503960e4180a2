//go:build unix

package store

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// drainPolls is how many field polls (100,000 samples each) the outage
// left in the outbox for BenchmarkDrainDisk.
const drainPolls = 30

// BenchmarkDrainDisk is the catch-up after an InfluxDB outage at field
// scale: an outbox holding drainPolls polls of the field shape (3 million
// samples, 1000 devices × 100 points, ids dev0001-r0 ..) on disk, far
// behind its memory tail, drained by the store's writer into an InfluxDB
// that takes every write without storing it (the gateway's own cost). The
// store is opened (the outbox scanned) and its first write waits at the
// server before the measurement begins; it ends with the last full write
// (what is left waits for the flush tick). Reported: samples/s, CPU-ns per
// sample (the process's user+system time: the writer, the store's
// goroutines and the server reading the bodies), samples/s per core, and
// heap allocations and bytes allocated per write (the whole process's).
// One op is one whole drain; run with -benchtime=3x or so.
func BenchmarkDrainDisk(b *testing.B) {
	for _, layout := range []string{configs.LayoutDevice, configs.LayoutPoint} {
		b.Run(layout, func(b *testing.B) { benchDrainDisk(b, layout) })
	}
}

func benchDrainDisk(b *testing.B, layout string) {
	const total = drainPolls * fieldPoints
	var timed int64 // the full writes: the rest waits for the flush tick
	var wall, cpu time.Duration
	var mallocs, allocBytes, writes uint64
	for b.Loop() {
		b.StopTimer()
		url, open, arrived := influxGated(b)
		cfg := fieldConfig(b.TempDir(), url)
		cfg.Store.InfluxDB.Layout = layout
		fillOutbox(b, cfg, drainPolls)
		f := startField(b, cfg)
		timed = total - total%int64(f.sendMax)
		deadline := time.NewTimer(time.Minute)
		select {
		case <-arrived:
		case <-deadline.C:
			b.Fatal("no write reached InfluxDB")
		}
		deadline.Stop()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0 := cpuTime(b)
		t0 := time.Now()
		b.StartTimer()
		open()
		f.waitWritten(b, timed)
		b.StopTimer()
		wall += time.Since(t0)
		cpu += cpuTime(b) - c0
		runtime.ReadMemStats(&m1)
		mallocs += m1.Mallocs - m0.Mallocs
		allocBytes += m1.TotalAlloc - m0.TotalAlloc
		writes += uint64(f.writes.Load())
		f.waitWritten(b, total)
		f.stop(b)
		b.StartTimer()
	}
	n := float64(timed) * float64(b.N)
	b.ReportMetric(n/wall.Seconds(), "samples/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/sample")
	b.ReportMetric(n/cpu.Seconds(), "samples/s/core")
	b.ReportMetric(float64(mallocs)/float64(writes), "allocs/write")
	b.ReportMetric(float64(allocBytes)/float64(writes), "B/write")
}

// fillOutbox writes polls field polls into cfg's outbox as the store's pump
// does (blocks of maxBlock samples, keyed by point), one second apart.
func fillOutbox(tb testing.TB, cfg *configs.Config, polls int) {
	o, err := OpenOutbox(filepath.Join(cfg.Store.Dir, "outbox"), OutboxOptions{MaxBytes: int64(cfg.Store.Outbox.MaxBytes)})
	if err != nil {
		tb.Fatal(err)
	}
	device, keyOf := fieldKeys(cfg)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	block := make([]drivers.Sample, 0, maxBlock)
	keys := make([]int32, 0, maxBlock)
	var bts [][]drivers.Sample
	flush := func() {
		if refused, err := o.AppendIndexed(block, keys, device); err != nil || refused > 0 {
			tb.Fatalf("append: %d refused, %v", refused, err)
		}
		block, keys = block[:0], keys[:0]
	}
	for i := range polls {
		bts = fieldPoll(cfg, bts, t0.Add(time.Duration(i)*time.Second), i)
		for _, bt := range bts {
			if len(block)+len(bt) > maxBlock {
				flush()
			}
			block = append(block, bt...)
			for _, s := range bt {
				keys = append(keys, keyOf[s.Point])
			}
		}
	}
	flush()
	if err := o.Close(); err != nil {
		tb.Fatal(err)
	}
}

// influxGated is influx204 whose writes wait until open is called;
// arrived is signalled when the first write is waiting.
func influxGated(tb testing.TB) (url string, open func(), arrived <-chan struct{}) {
	gate, arr := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arr <- struct{}{}:
		default:
		}
		<-gate
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL, func() { close(gate) }, arr
}

// cpuTime is the user and system CPU time the process used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
