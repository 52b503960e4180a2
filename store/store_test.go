package store

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"hazardgw/alarms/alarmstest"
	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/store/influxtest"
)

const site = "SITE-T"

// config builds a config with one device "DEV1" holding points, an InfluxDB
// at url (none when url is ""), and the outbox in dir.
func config(dir, url, bucket string, maxBytes int64, points ...string) *configs.Config {
	c := &configs.Config{Site: configs.Site{ID: site}}
	c.Store.Dir = dir
	c.Store.Outbox.MaxBytes = configs.Size(maxBytes)
	if url != "" {
		c.Store.InfluxDB = &configs.InfluxDB{URL: url, Bucket: bucket, Batch: 500, Flush: configs.Duration(200 * time.Millisecond)}
	}
	d := configs.Device{ID: "DEV1"}
	for _, p := range points {
		d.Points = append(d.Points, configs.Point{ID: p})
	}
	c.Devices = []configs.Device{d}
	c.SetDefaults()
	return c
}

type running struct {
	*Store
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func run(t *testing.T, cfg *configs.Config, opts Options) *running {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Store: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return within 20s of cancel")
		}
	})
}

// kill abandons the store as kill -9 would and waits for Run to return.
func (r *running) kill() {
	r.once.Do(func() {
		r.abandon()
		<-r.done
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// round is poll i of points: value i, at base + i ms.
func round(points []string, base time.Time, i int) []drivers.Sample {
	batch := make([]drivers.Sample, len(points))
	for j, p := range points {
		batch[j] = drivers.Sample{Point: drivers.PointID(p), Value: float64(i), Time: base.Add(time.Duration(i) * time.Millisecond)}
	}
	return batch
}

func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// feeder sends one sample per point every tick with distinct timestamps,
// and an alarm event every 50 ticks, counting what it sent.
type feeder struct {
	mu     sync.Mutex
	sent   map[drivers.PointID]int
	events int
	stop   chan struct{}
	done   chan struct{}
}

func feed(s *Store, points []string, tick time.Duration, base time.Time) *feeder {
	f := &feeder{sent: map[drivers.PointID]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				return
			case <-tk.C:
			}
			ts := base.Add(time.Duration(i) * time.Millisecond)
			batch := make([]drivers.Sample, len(points))
			for j, p := range points {
				batch[j] = drivers.Sample{Point: drivers.PointID(p), Value: float64(i), Time: ts}
			}
			s.Samples(batch)
			f.mu.Lock()
			for _, p := range points {
				f.sent[drivers.PointID(p)]++
			}
			if i%50 == 0 {
				f.events++
				ev := event(uint64(f.events))
				ev.Point, ev.Time = points[0], ts
				s.Event(ev)
			}
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *feeder) halt() { close(f.stop); <-f.done }

// TestOutage stops InfluxDB for 12 s while samples flow: afterwards every
// sample of every point and every alarm event is in InfluxDB.
func TestOutage(t *testing.T) {
	t.Parallel()
	db := influxtest.Start(t)
	points := []string{"NH3-101", "NH3-102", "TK-101.LT"}
	reg := prometheus.NewRegistry()
	s := run(t, config(t.TempDir(), db.URL, db.Bucket, 1<<30, points...), Options{Registerer: reg})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	f := feed(s.Store, points, 5*time.Millisecond, base)
	waitFor(t, 10*time.Second, "first writes", func() bool { return s.Health().WrittenLines > 0 })
	db.Stop()
	waitFor(t, 10*time.Second, "influxdb down in health", func() bool { return s.Health().InfluxDB == "down" })
	outageEnd := time.Now().Add(12 * time.Second)
	waitFor(t, 20*time.Second, "the outage to last 12 s", func() bool { return time.Now().After(outageEnd) })
	h := s.Health()
	if h.OutboxSamples == 0 || h.OutboxEvents == 0 || h.OldestAgeS <= 0 {
		t.Errorf("during the outage: %+v, want samples and events waiting", h)
	}
	db.Start()
	waitFor(t, 20*time.Second, "influxdb up again", func() bool { return s.Health().InfluxDB == "up" })
	f.halt()
	waitFor(t, 30*time.Second, "the outbox to drain", func() bool {
		h := s.Health()
		return h.OutboxSamples == 0 && h.OutboxEvents == 0
	})
	for p, n := range f.sent {
		if got := db.Count(t, "sample", map[string]string{"point": string(p), "site": site, "device": "DEV1"}); got != n {
			t.Errorf("point %s: %d samples in InfluxDB, %d sent", p, got, n)
		}
	}
	if got := db.Count(t, "alarm_event", map[string]string{"site": site}); got != f.events {
		t.Errorf("%d alarm events in InfluxDB, %d sent", got, f.events)
	}
	if n := counter(s.met.writeErrs); n == 0 {
		t.Error("no write error counted during the outage")
	}
	t.Logf("sent %v samples, %d events; health %+v", f.sent, f.events, s.Health())
}

// TestCrash abandons a store without Close while InfluxDB is down (as kill
// -9 would), reopens its outbox with InfluxDB up: nothing that entered the
// outbox is missing.
func TestCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	points := []string{"A1", "A2", "A3", "A4"}
	a := run(t, config(dir, deadURL(t), "db/autogen", 1<<30, points...), Options{})
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	const rounds = 3000
	events := 0
	for i := 0; i < rounds; i++ {
		a.Samples(round(points, base, i))
		if i%100 == 0 {
			events++
			a.Event(event(uint64(events)))
		}
	}
	waitFor(t, 10*time.Second, "everything in the outbox", func() bool {
		h := a.Health()
		return h.OutboxSamples == rounds*int64(len(points)) && h.OutboxEvents == int64(events)
	})
	a.kill()
	db := influxtest.Start(t)
	var order []Kind
	var orderMu sync.Mutex
	sb, err := New(config(dir, db.URL, db.Bucket, 1<<30, points...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb.onWrite = func(k Kind, n int) { orderMu.Lock(); order = append(order, k); orderMu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	b := &running{Store: sb, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- sb.Run(ctx) }()
	t.Cleanup(func() { b.stop(t) })
	waitFor(t, 30*time.Second, "the outbox to drain", func() bool {
		h := b.Health()
		return h.OutboxSamples == 0 && h.OutboxEvents == 0 && h.InfluxDB == "up"
	})
	for _, p := range points {
		if got := db.Count(t, "sample", map[string]string{"point": p}); got != rounds {
			t.Errorf("point %s: %d in InfluxDB, want %d", p, got, rounds)
		}
	}
	if got := db.Count(t, "alarm_event", nil); got != events {
		t.Errorf("%d events in InfluxDB, want %d", got, events)
	}
	orderMu.Lock()
	defer orderMu.Unlock()
	if len(order) == 0 || order[0] != Events {
		t.Errorf("backlog written in order %v, want the alarm events first", order)
	}
}

// TestRejectedPoint: InfluxDB refuses one point (field type conflict): the
// other lines of the batch are written, the bad ones counted and dropped.
func TestRejectedPoint(t *testing.T) {
	t.Parallel()
	db := influxtest.Start(t)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	// Field types are per measurement and shard: `value` is a string in the
	// shard of 30 days ago, so BAD's samples (time-stamped then, as a
	// device with a wrong clock would send them) fail as float.
	old := base.Add(-30 * 24 * time.Hour)
	db.Write(t, fmt.Sprintf("sample,device=DEV1,point=BAD,site=%s value=\"str\" %d\n", site, old.Add(-time.Second).UnixNano()))
	reg := prometheus.NewRegistry()
	s := run(t, config(t.TempDir(), db.URL, db.Bucket, 1<<30, "OK1", "OK2", "BAD"), Options{Registerer: reg})
	var batch []drivers.Sample
	for i := 0; i < 300; i++ {
		for _, p := range []drivers.PointID{"OK1", "BAD", "OK2"} {
			if p == "BAD" && i%60 != 0 {
				continue
			}
			ts := base
			if p == "BAD" {
				ts = old
			}
			batch = append(batch, drivers.Sample{Point: p, Value: float64(i), Time: ts.Add(time.Duration(i) * time.Millisecond)})
		}
	}
	s.Samples(batch) // 605 lines: two write batches of 500 and 105
	s.Event(event(1))
	waitFor(t, 20*time.Second, "the batch to be written", func() bool {
		h := s.Health()
		return h.OutboxSamples == 0 && h.OutboxEvents == 0 && h.WrittenLines > 0
	})
	for _, p := range []string{"OK1", "OK2"} {
		if got := db.Count(t, "sample", map[string]string{"point": p}); got != 300 {
			t.Errorf("point %s: %d written, want 300", p, got)
		}
	}
	if got := db.Count(t, "alarm_event", nil); got != 1 {
		t.Errorf("%d events, want 1", got)
	}
	if h := s.Health(); h.RejectedLines != 5 {
		t.Errorf("rejected %d lines, want the 5 of BAD", h.RejectedLines)
	}
	if n := counter(s.met.rejected.WithLabelValues("field_type_conflict")); n != 5 {
		t.Errorf("metric lines_rejected_total{cause=field_type_conflict} = %v, want 5", n)
	}
}

// TestDiskBound: with InfluxDB unreachable and a small outbox, the oldest
// samples go, no alarm event does, and when only events are left the store
// reports the condition and keeps running.
func TestDiskBound(t *testing.T) {
	t.Parallel()
	const max = 96 << 10
	s := run(t, config(t.TempDir(), deadURL(t), "db/autogen", max, "P1", "P2"), Options{SegmentBytes: 8 << 10})
	base := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	var events int
	for i := 0; i < 40000; i++ {
		s.Samples([]drivers.Sample{{Point: "P1", Value: float64(i), Time: base.Add(time.Duration(i) * time.Millisecond)},
			{Point: "P2", Value: float64(i), Time: base.Add(time.Duration(i) * time.Millisecond)}})
		if i%1000 == 0 {
			events++
			s.Event(event(uint64(events)))
		}
	}
	waitFor(t, 10*time.Second, "samples dropped for space", func() bool {
		h := s.Health()
		return h.DroppedSamples > 0 && h.OutboxEvents == int64(events) && h.OutboxSamples+int64(h.DroppedSamples) == 80000
	})
	if h := s.Health(); h.OutboxBytes > max+8<<10 || h.OutboxFull || h.Condition() != "" {
		t.Fatalf("health %+v", h)
	}
	// Events alone now exceed the bound: all are kept, the condition is raised.
	for i := 0; i < 2000; i++ {
		events++
		s.Event(event(uint64(events)))
	}
	waitFor(t, 10*time.Second, "the outbox-full condition", func() bool {
		h := s.Health()
		return h.OutboxFull && h.OutboxEvents == int64(events) && h.OutboxSamples == 0
	})
	if c := s.Health().Condition(); c == "" {
		t.Fatal("no condition reported")
	}
	s.Samples([]drivers.Sample{{Point: "P1", Value: 1, Time: base}})
	waitFor(t, 5*time.Second, "a refused sample to be counted", func() bool {
		return counter(s.met.dropped.WithLabelValues("outbox_full")) >= 1
	})
}

// TestLocalHistory: without [store.influxdb] the store keeps the trend and
// writes no outbox; Samples never blocks and its queue drops oldest first.
func TestLocalHistory(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir, "", "", 0, "P1")
	s, err := New(cfg, Options{QueueSamples: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Not running yet: the queue overflows, the oldest batches go.
	for i := 0; i < 30; i++ {
		s.Samples(samples(i*10, 10, 1))
	}
	if h := s.Health(); h.DroppedSamples != 200 || h.InfluxDB != "off" {
		t.Fatalf("health %+v, want 200 dropped from the queue", h)
	}
	r := &running{Store: s, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	waitFor(t, 5*time.Second, "history", func() bool { return len(s.History("P00", time.Time{})) == 100 })
	got := s.History("P00", time.Time{})
	if !got[0].Time.Equal(t0.Add(200 * time.Millisecond)) {
		t.Fatalf("oldest kept %v, want the 200th ms", got[0].Time)
	}
	r.stop(t)
	if m, _ := filepathGlob(dir); len(m) != 0 {
		t.Fatalf("outbox written without InfluxDB: %v", m)
	}
}

func filepathGlob(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "outbox", "*", "*.seg"))
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestMissingDatabase: a 404 (database not found) is an installation
// problem, not a bad point: the data waits and is written once the
// database exists.
func TestMissingDatabase(t *testing.T) {
	t.Parallel()
	db := influxtest.Start(t)
	s := run(t, config(t.TempDir(), db.URL, "late/autogen", 1<<30, "P1"), Options{})
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := 0; i < 100; i++ {
		s.Samples([]drivers.Sample{{Point: "P1", Value: float64(i), Time: base.Add(time.Duration(i) * time.Millisecond)}})
	}
	s.Event(event(1))
	waitFor(t, 10*time.Second, "write errors", func() bool { return s.Health().WriteErrors >= 2 })
	if h := s.Health(); h.InfluxDB != "down" || h.OutboxSamples != 100 || h.OutboxEvents != 1 || h.RejectedLines != 0 {
		t.Fatalf("health %+v: want down, everything waiting, nothing rejected", h)
	}
	db.Exec(t, "CREATE DATABASE late")
	waitFor(t, 15*time.Second, "the outbox to drain", func() bool {
		h := s.Health()
		return h.OutboxSamples == 0 && h.OutboxEvents == 0
	})
	q := db.Query(t, `SELECT count("quality") FROM "late"."autogen"."sample"`)
	if len(q) != 1 || fmt.Sprint(q[0].Values[0][1]) != "100" {
		t.Fatalf("count in db late: %+v", q)
	}
}

// TestEventsCaughtUpFromJournal: events journaled by the engine but still
// in the store's memory when the process died are copied from the journal
// into the outbox at the next start, once; live events already copied are
// not appended twice.
func TestEventsCaughtUpFromJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url := deadURL(t)
	j := &alarmstest.Log{}
	j.Append(event(1)) // before the store ever ran: not InfluxDB's business
	a := run(t, config(dir, url, "db/autogen", 1<<30, "A1"), Options{Journal: j})
	for seq := uint64(2); seq <= 3; seq++ {
		j.Append(event(seq))
		a.Event(event(seq))
	}
	waitFor(t, 10*time.Second, "events 2 and 3 in the outbox, marked", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "outbox", "events.mark"))
		return a.Health().OutboxEvents == 2 && string(b) == "3\n"
	})
	// Events 4 and 5 are journaled; the process dies before the store
	// writes them.
	j.Append(event(4))
	j.Append(event(5))
	a.kill()

	b := run(t, config(dir, url, "db/autogen", 1<<30, "A1"), Options{Journal: j})
	b.Event(event(5)) // the engine may also hand over an event already copied
	j.Append(event(6))
	b.Event(event(6))
	waitFor(t, 10*time.Second, "events 2..6 in the outbox", func() bool { return b.Health().OutboxEvents == 5 })
	b.stop(t)
	if got, _ := os.ReadFile(filepath.Join(dir, "outbox", "events.mark")); string(got) != "6\n" {
		t.Errorf("mark after a clean stop = %q, want 6", got)
	}
	c := run(t, config(dir, url, "db/autogen", 1<<30, "A1"), Options{Journal: j})
	waitFor(t, 10*time.Second, "the outbox reopened", func() bool { return c.Health().OutboxEvents > 0 })
	if n := c.Health().OutboxEvents; n != 5 {
		t.Errorf("after a clean restart the outbox holds %d events, want still 5 (nothing copied twice)", n)
	}
}

// TestSlowFsyncKeepsThePumpGoing: while the periodic fsync of the outbox
// hangs (a disk made busy by InfluxDB compacting beside it), samples keep
// moving from memory into the outbox, so the small memory queue here drops
// nothing. Before, the fsync ran on the pump's goroutine under the outbox's
// lock and every round below waited in vain.
func TestSlowFsyncKeepsThePumpGoing(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	syncFile = func(f *os.File) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return f.Sync()
	}
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	s := run(t, config(t.TempDir(), deadURL(t), "db/autogen", 1<<30, "P1", "P2"), Options{QueueSamples: 100})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before run's stop, which waits for the sync
	base := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	s.Samples(round([]string{"P1", "P2"}, base, 0))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync of the outbox began")
	}
	for i := 1; i <= 50; i++ { // 100 samples while the fsync hangs
		s.Samples(round([]string{"P1", "P2"}, base, i))
		want := int64(2 * (i + 1))
		waitFor(t, 10*time.Second, fmt.Sprintf("round %d in the outbox during the fsync", i), func() bool {
			return s.Health().OutboxSamples == want
		})
	}
	if n := counter(s.met.dropped.WithLabelValues("queue")); n != 0 {
		t.Errorf("%v samples dropped from the memory queue", n)
	}
	free()
}
