package mqtt_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
)

// brokers are the two brokers every behaviour is tested against.
var brokers = mqtttest.Kinds

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
func (g *gw) waitUp(t testing.TB) { t.Helper(); mqtttest.WaitUp(t, g.conns.Health) }

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

func waitHealthy(tb testing.TB, c *mqtt.Conns) { tb.Helper(); mqtttest.WaitUp(tb, c.Health) }

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
