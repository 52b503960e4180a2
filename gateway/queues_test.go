package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/drivers"
)

// scrape gathers c from a pedantic registry (which also checks the
// descriptions) and returns every sample as "name{stage}" → value.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestQueueCollector: each stage's depth and drops under one name, labelled
// by stage, read from the real queues at scrape time.
func TestQueueCollector(t *testing.T) {
	store, console := alarms.NewQueue(10), alarms.NewQueue(100)
	batch := make([]drivers.Sample, 4)
	for range 4 { // 16 samples into 10: the two oldest batches go (8 dropped)
		store.PushSamples(batch)
	}
	console.PushSamples(batch)
	console.PushEvent(alarms.Event{Seq: 1})
	console.PushEvent(alarms.Event{Seq: 2})
	c := newQueueCollector(func() (int, int) { return 3, 256 },
		queueStage("store", store), queueStage("console", console))

	want := map[string]float64{
		"hazardgw_alarm_input_batches":                  3,
		"hazardgw_alarm_input_capacity":                 256,
		"hazardgw_queue_samples{store}":                 8,
		"hazardgw_queue_samples{console}":               4,
		"hazardgw_queue_events{store}":                  0,
		"hazardgw_queue_events{console}":                2,
		"hazardgw_queue_dropped_samples_total{store}":   8,
		"hazardgw_queue_dropped_samples_total{console}": 0,
	}
	got := scrape(t, c)
	if len(got) != len(want) {
		t.Errorf("scraped %d samples, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}

	// The stages catch up: the next scrape reads the drained queues; the
	// drop counter keeps its count.
	store.TakeSamples()
	console.TakeEvents()
	got = scrape(t, c)
	for k, v := range map[string]float64{"hazardgw_queue_samples{store}": 0, "hazardgw_queue_events{console}": 0,
		"hazardgw_queue_dropped_samples_total{store}": 8} {
		if got[k] != v {
			t.Errorf("after draining: %s = %v, want %v", k, got[k], v)
		}
	}
}
