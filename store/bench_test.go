package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"hazardgw/drivers"
	"hazardgw/store/influxtest"
)

// benchBatches makes batches of 100 samples over 1000 points, one poll
// every 100 ms per point (a 10k samples/s plant).
func benchBatches(n int) [][]drivers.Sample {
	out := make([][]drivers.Sample, 0, n/100+1)
	base := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 100 {
		b := make([]drivers.Sample, 100)
		for j := range b {
			k := i + j
			b[j] = drivers.Sample{Point: drivers.PointID(fmt.Sprintf("PT-%04d", k%1000)), Value: 20 + float64(k%977)/7,
				Time: base.Add(time.Duration(k/1000) * 100 * time.Millisecond)}
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkOutboxAppend: samples/s written into the outbox by one
// goroutine, and bytes on disk per sample.
func BenchmarkOutboxAppend(b *testing.B) {
	o, err := OpenOutbox(b.TempDir(), OutboxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	batches := benchBatches(100_000)
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		bt := batches[i%len(batches)]
		if _, err := o.AppendSamples(bt, dev); err != nil {
			b.Fatal(err)
		}
		n += len(bt)
	}
	b.StopTimer()
	st := o.Stats()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(st.Bytes)/float64(n), "bytes/sample")
}

// BenchmarkStoreIngest: samples/s through Store.Samples into the outbox
// (the pump goroutine, coalescing), InfluxDB unreachable so nothing leaves.
func BenchmarkStoreIngest(b *testing.B) {
	cfg := config(b.TempDir(), "http://127.0.0.1:1", "db/autogen", 1<<40)
	cfg.Store.InfluxDB.Flush = 1e9 * 3600 // no periodic fsync inside the measurement
	s, err := New(cfg, Options{QueueSamples: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	batches := benchBatches(100_000)
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		bt := batches[i%len(batches)]
		s.Samples(bt)
		n += len(bt)
	}
	for counter(s.met.accepted) < float64(n) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(s.Health().OutboxBytes)/float64(n), "bytes/sample")
	cancel()
	<-done
}

// BenchmarkDrain: an outage left 500k samples in the outbox; the rate at
// which they go into a local influxd once it is back. Run with
// -benchtime=1x.
func BenchmarkDrain(b *testing.B) {
	const total = 500_000
	db := influxtest.Start(b)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		o, err := OpenOutbox(dir+"/outbox", OutboxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		base := time.Now().Add(-time.Duration(i+1) * time.Hour).Truncate(time.Hour)
		for j, bt := range benchBatches(total) {
			for k := range bt {
				bt[k].Time = base.Add(time.Duration(j*100+k) * time.Millisecond / 10)
			}
			o.AppendSamples(bt, dev)
		}
		o.Close()
		cfg := config(dir, db.URL, db.Bucket, 1<<40)
		cfg.Store.InfluxDB.Batch = 5000
		cfg.Store.InfluxDB.Flush = 1e9
		s, err := New(cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		start := time.Now()
		go func() { done <- s.Run(ctx) }()
		for s.Health().OutboxSamples > 0 || s.Health().WrittenLines < total {
			time.Sleep(10 * time.Millisecond)
		}
		el := time.Since(start)
		cancel()
		<-done
		b.ReportMetric(total/el.Seconds(), "samples/s")
		fmt.Fprintf(os.Stderr, "drained %d samples in %v\n", total, el)
	}
}
