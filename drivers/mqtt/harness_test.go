package mqtt_test

import (
	"context"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
)

var brokers = []struct {
	name  string
	start func(testing.TB) *mqtttest.Broker
}{
	{"mochi", mqtttest.StartMochi},
	{"mosquitto", mqtttest.StartMosquitto},
}

// sink collects what the Runners deliver.
type sink struct {
	mu      sync.Mutex
	samples []drivers.Sample
	wake    chan struct{}
}

func newSink() *sink { return &sink{wake: make(chan struct{}, 1)} }

func (s *sink) put(b []drivers.Sample) {
	s.mu.Lock()
	s.samples = append(s.samples, b...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sink) all() []drivers.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// wait returns once ok holds for the samples collected so far.
func (s *sink) wait(t *testing.T, what string, ok func([]drivers.Sample) bool) []drivers.Sample {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		all := s.all()
		if ok(all) {
			return all
		}
		select {
		case <-s.wake:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; got %d samples, last %v", what, len(all), tail(all, 5))
		}
	}
}

func tail[T any](s []T, n int) []T { return s[max(0, len(s)-n):] }

// has reports whether a sample of point with value/quality/cause is there.
func has(point string, v float64, q drivers.Quality, c drivers.Cause) func([]drivers.Sample) bool {
	return func(all []drivers.Sample) bool {
		for _, s := range all {
			if string(s.Point) == point && s.Value == v && s.Quality == q && s.Cause == c {
				return true
			}
		}
		return false
	}
}

func hasCause(point string, c drivers.Cause) func([]drivers.Sample) bool {
	return func(all []drivers.Sample) bool {
		for _, s := range all {
			if string(s.Point) == point && s.Quality == drivers.Bad && s.Cause == c {
				return true
			}
		}
		return false
	}
}

// journal is an in-memory alarm journal (the engine's Events).
type journal struct {
	mu  sync.Mutex
	evs []alarms.Event
}

func (j *journal) add(notify ...string) alarms.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	seq := uint64(len(j.evs) + 1)
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond)
	ev := alarms.Event{Seq: seq, ID: "NH3-101:hihi", Point: "NH3-101", Cond: "hihi", Tier: 2, Priority: alarms.High,
		State: alarms.Unack, Active: true, Value: 61.5, Limit: 60, Unit: "ppm", Quality: "good", Time: now, Emitted: now,
		Site: "S1", Device: "GC", Notify: notify}
	j.evs = append(j.evs, ev)
	return ev
}

func (j *journal) Events(after uint64, limit int) ([]alarms.Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []alarms.Event
	for _, e := range j.evs {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func baseConfig(t *testing.T, url string) *configs.Config {
	cfg := &configs.Config{
		Site:    configs.Site{ID: "S1"},
		Store:   configs.Store{Dir: t.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: url}},
	}
	return cfg
}

func mqttDevice(qos int, pts ...configs.Point) configs.Device {
	return configs.Device{ID: "TANKS", Driver: "mqtt", Broker: "plant", QoS: qos, Points: pts}
}

// gw is a running Conns with its Runners.
type gw struct {
	conns  *mqtt.Conns
	sink   *sink
	cancel func()
}

// startGW builds and runs everything of cfg; cleanup stops it.
func startGW(t *testing.T, cfg *configs.Config, opts mqtt.Options) *gw {
	t.Helper()
	cfg.SetDefaults()
	c, err := mqtt.New(cfg, opts)
	if err != nil {
		t.Fatalf("mqtt.New: %v", err)
	}
	g := &gw{conns: c, sink: newSink()}
	ctx, cancel := context.WithCancel(context.Background())
	dctx, dcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); runErr <- c.Run(ctx) }()
	for _, r := range c.Runners(g.sink.put, nil) {
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(dctx) }()
	}
	var once sync.Once
	g.cancel = func() {
		once.Do(func() {
			dcancel()
			cancel()
			wg.Wait()
			if err := <-runErr; err != nil {
				t.Errorf("Conns.Run: %v", err)
			}
		})
	}
	t.Cleanup(g.cancel)
	return g
}

// waitUp waits until every broker connection is up.
func (g *gw) waitUp(t *testing.T) {
	t.Helper()
	waitFor(t, "broker connections up", func() bool {
		for _, h := range g.conns.Health() {
			if h.State != "up" {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond every 10ms for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// gate is a TCP proxy in front of a broker. While closed it refuses new
// connections; Kill cuts the current ones without an MQTT DISCONNECT.
type gate struct {
	l      net.Listener
	target string
	open   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newGate(t *testing.T, target string) *gate {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{l: l, target: target}
	g.open.Store(true)
	t.Cleanup(func() { l.Close(); g.Kill() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !g.open.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { io.Copy(up, c); up.Close(); c.Close() }()
			go func() { io.Copy(c, up); up.Close(); c.Close() }()
		}
	}()
	return g
}

func (g *gate) URL() string { return "tcp://" + g.l.Addr().String() }

func (g *gate) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

func TestMain(m *testing.M) {
	if os.Getenv("MQTT_BENCH_PUB") != "" {
		runBenchPublisher()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func waitHealthy(tb testing.TB, c *mqtt.Conns) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, h := range c.Health() {
			ok = ok && h.State == "up"
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("brokers not up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
