package outputs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/alarms/alarmstest"
	"hazardgw/configs"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/gateway/outputs"
)

// journal is the alarm journal the outputs read (the engine's Events):
// alarmstest's in-memory log without its Seq (seqJournal has it), with add
// for the one event these tests need.
type journal struct{ log alarmstest.Log }

func (j *journal) Events(after uint64, limit int) ([]alarms.Event, error) {
	return j.log.Events(after, limit)
}

// add journals NH3-101:hihi (next seq, 1 ms apart) for the given notify
// targets.
func (j *journal) add(notify ...string) alarms.Event {
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC).Add(time.Duration(j.log.Seq()+1) * time.Millisecond)
	return j.log.Append(alarms.Event{ID: "NH3-101:hihi", Point: "NH3-101", Cond: "hihi", Tier: 2, Priority: alarms.High,
		State: alarms.Unack, Active: true, Value: 61.5, Limit: 60, Unit: "ppm", Quality: "good", Time: now, Emitted: now,
		Site: "S1", Device: "GC", Notify: notify})
}

// config is a site S1 with one broker "plant" at url.
func config(t testing.TB, url string) *configs.Config {
	return &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: t.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: url}}}
}

// gw is the MQTT part of a running gateway: the connections and the
// outputs publishing on them.
type gw struct {
	conns  *mqtt.Conns
	outs   *outputs.Set
	cancel func()
}

// startGW builds and runs the connections and the outputs of cfg, wired as
// gateway/run.go wires them; cleanup stops them in the gateway's order
// (outputs, with their final flush, then the connections).
func startGW(t testing.TB, cfg *configs.Config, opts outputs.Options) *gw {
	t.Helper()
	cfg.SetDefaults()
	c, err := mqtt.New(cfg, mqtt.Options{Wills: outputs.Wills(cfg, time.Now())})
	if err != nil {
		t.Fatalf("mqtt.New: %v", err)
	}
	outs, err := outputs.New(cfg, c, opts)
	if err != nil {
		t.Fatalf("outputs.New: %v", err)
	}
	g := &gw{conns: c, outs: outs}
	cctx, ccancel := context.WithCancel(context.Background())
	octx, ocancel := context.WithCancel(context.Background())
	connErr, outErr := make(chan error, 1), make(chan error, 1)
	go func() { connErr <- c.Run(cctx) }()
	go func() { outErr <- outs.Run(octx) }()
	var once sync.Once
	g.cancel = func() {
		once.Do(func() {
			ocancel()
			if err := <-outErr; err != nil {
				t.Errorf("outputs Run: %v", err)
			}
			ccancel()
			if err := <-connErr; err != nil {
				t.Errorf("Conns.Run: %v", err)
			}
		})
	}
	t.Cleanup(g.cancel)
	return g
}

// waitUp waits until every broker connection is up.
func (g *gw) waitUp(t testing.TB) { t.Helper(); mqtttest.WaitUp(t, g.conns.Health) }
