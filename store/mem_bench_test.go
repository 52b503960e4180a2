package store

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// The field-scale shape of issue #11 (bench/gateway/gen.go): fieldDevices
// Modbus devices of fieldRegs uint16 holding registers each, polled every
// second, points dev0001-r0 .. dev1000-r99, no alarms.
const (
	fieldDevices = 1000
	fieldRegs    = 100
	fieldPoints  = fieldDevices * fieldRegs
)

// fieldConfig is the bench's config: the device layout, batch 5000, the
// outbox in dir, InfluxDB at url.
func fieldConfig(dir, url string) *configs.Config {
	c := &configs.Config{Site: configs.Site{ID: "BENCH"}}
	c.Store.Dir = dir
	c.Store.InfluxDB = &configs.InfluxDB{URL: url, Token: "x:y", Org: "x", Bucket: "bench/autogen", Batch: 5000,
		Flush: configs.Duration(time.Second), Layout: configs.LayoutDevice}
	c.Devices = make([]configs.Device, fieldDevices)
	for d := range c.Devices {
		dv := &c.Devices[d]
		dv.ID = fmt.Sprintf("dev%04d", d+1)
		dv.Driver, dv.Interval = "modbus", configs.Duration(time.Second)
		dv.Points = make([]configs.Point, fieldRegs)
		for r := range dv.Points {
			dv.Points[r] = configs.Point{ID: fmt.Sprintf("%s-r%d", dv.ID, r), Register: "holding", Address: &r, Type: "uint16"}
		}
	}
	c.SetDefaults()
	return c
}

// fieldPoll is one poll of every device of cfg at t: one batch per device,
// the point ids the config's strings (as the driver's are).
func fieldPoll(cfg *configs.Config, polls [][]drivers.Sample, t time.Time, i int) [][]drivers.Sample {
	if polls == nil {
		polls = make([][]drivers.Sample, len(cfg.Devices))
	}
	for d, dv := range cfg.Devices {
		b := make([]drivers.Sample, len(dv.Points)) // the engine hands each batch on, never reused
		for r, p := range dv.Points {
			b[r] = drivers.Sample{Point: drivers.PointID(p.ID), Value: float64((i + r + d) % 65536), Time: t}
		}
		polls[d] = b
	}
	return polls
}

// influx204 is an InfluxDB that takes every write (204), reading the body:
// the gateway's own cost, without a database's.
func influx204(tb testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// fieldStore runs a store of fieldConfig against url; written counts the
// samples InfluxDB took, wrote is signalled after every write.
type fieldStore struct {
	*Store
	cancel  context.CancelFunc
	done    chan error
	written atomic.Int64
	wrote   chan struct{}
}

func startField(tb testing.TB, cfg *configs.Config) *fieldStore {
	s, err := New(cfg, Options{QueueSamples: 10 * fieldPoints}) // more than a benchmark pushes: none dropped
	if err != nil {
		tb.Fatal(err)
	}
	f := &fieldStore{Store: s, done: make(chan error, 1), wrote: make(chan struct{}, 1)}
	s.onWrite = func(k Kind, n int) {
		if k == Samples {
			f.written.Add(int64(n))
		}
		select {
		case f.wrote <- struct{}{}:
		default:
		}
	}
	var ctx context.Context
	ctx, f.cancel = context.WithCancel(context.Background())
	go func() { f.done <- s.Run(ctx) }()
	return f
}

// waitWritten waits until InfluxDB took n samples in all.
func (f *fieldStore) waitWritten(tb testing.TB, n int64) {
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for f.written.Load() < n {
		select {
		case <-f.wrote:
		case <-deadline.C:
			tb.Fatalf("InfluxDB took %d samples of %d (health %+v)", f.written.Load(), n, f.Health())
		}
	}
}

func (f *fieldStore) stop(tb testing.TB) {
	f.cancel()
	if err := <-f.done; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkStoreRetained reports the heap a running store keeps at field
// scale (100,000 points, device layout) once it has taken a few polls and
// sent them: its tables, the outbox's dictionaries and memory tail, the
// writer's buffers. The config and the point ids (the drivers' strings)
// are allocated before the first reading and kept: not counted. The
// history's block is outside the Go heap (mmap): not counted either.
func BenchmarkStoreRetained(b *testing.B) {
	url := influx204(b)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var polls [][]drivers.Sample
	for b.Loop() {
		cfg := fieldConfig(b.TempDir(), url)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f := startField(b, cfg)
		const n = 5
		for i := range n {
			polls = fieldPoll(cfg, polls, t0.Add(time.Duration(i)*time.Second), i)
			for _, bt := range polls {
				f.Samples(bt)
			}
		}
		f.waitWritten(b, n*fieldPoints)
		clear(polls)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB")
		f.stop(b)
		runtime.KeepAlive(cfg)
	}
}

// BenchmarkOutboxPoll is the outbox's steady path per poll at field scale:
// the store's pump appending a poll of 100,000 samples (coalesced into
// blocks of maxBlock, keyed by history slot) and the sender reading them
// back (caught up: from the memory tail) and acknowledging them. One op is
// one poll.
func BenchmarkOutboxPoll(b *testing.B) {
	cfg := fieldConfig(b.TempDir(), "")
	o, err := OpenOutbox(b.TempDir(), OutboxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	dev := map[drivers.PointID]string{}
	keyOf := map[drivers.PointID]int32{}
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			dev[drivers.PointID(p.ID)] = d.ID
			keyOf[drivers.PointID(p.ID)] = int32(len(keyOf))
		}
	}
	device := func(p drivers.PointID) string { return dev[p] }
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	polls := fieldPoll(cfg, nil, t0, 0)
	block := make([]drivers.Sample, 0, maxBlock)
	keys := make([]int32, 0, maxBlock)
	sendMax := min(cfg.Store.InfluxDB.Batch*64, deviceBatchMax)
	i := 0
	poll := func() {
		t := t0.Add(time.Duration(i) * time.Second)
		i++
		for _, bt := range polls {
			for j := range bt {
				bt[j].Time = t
			}
		}
		for _, bt := range polls {
			if len(block)+len(bt) > maxBlock {
				if _, err := o.AppendIndexed(block, keys, device); err != nil {
					b.Fatal(err)
				}
				block, keys = block[:0], keys[:0]
			}
			block = append(block, bt...)
			for _, s := range bt {
				keys = append(keys, keyOf[s.Point])
			}
		}
		if _, err := o.AppendIndexed(block, keys, device); err != nil {
			b.Fatal(err)
		}
		block, keys = block[:0], keys[:0]
		for n := 0; n < fieldPoints; {
			bt, err := o.Next(Samples, sendMax)
			if err != nil || bt.Len() == 0 {
				b.Fatalf("read %d of %d: %v", n, fieldPoints, err)
			}
			n += bt.Len()
			if err := o.Ack(bt); err != nil {
				b.Fatal(err)
			}
		}
	}
	poll() // the segment's dictionary
	b.ReportAllocs()
	for b.Loop() {
		poll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fieldPoints, "ns/sample")
}
