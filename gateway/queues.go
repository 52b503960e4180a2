package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/console"
	"hazardgw/gateway/outputs"
	"hazardgw/store"
)

// stageQueue is the queue in front of one stage of the pipeline, as
// /metrics shows it.
type stageQueue struct {
	stage   string                       // engine output: store, console, uplink
	depth   func() (samples, events int) // queued now
	dropped func() uint64                // samples dropped by its overflow policy
}

// queueCollector exports every stage's queue under one set of names, so an
// operator sees which stage lags in one query:
//
//	hazardgw_queue_samples{stage}                samples waiting (gauge)
//	hazardgw_queue_events{stage}                 alarm events waiting (gauge)
//	hazardgw_queue_dropped_samples_total{stage}  samples dropped, oldest first (counter)
//	hazardgw_alarm_input_batches                 inputs waiting for the engine (gauge)
//	hazardgw_alarm_input_capacity                its capacity: at it, drivers wait (gauge)
//
// Alarm events are never dropped (their queues are unbounded); a growing
// events gauge is a stage that does not keep up with the engine. The
// drivers' side of back-pressure is hazardgw_alarm_sink_blocked_seconds_total.
// The per-stage counters that existed before (store samples_dropped_total
// reason="queue", console samples_dropped_total where="hub", mqtt
// uplink_samples_dropped_total) count the same drops and stay.
type queueCollector struct {
	stages []stageQueue
	engine func() (queued, capacity int)

	samples, events, dropped, input, capacity *prometheus.Desc
}

func newQueueCollector(engine func() (int, int), stages ...stageQueue) *queueCollector {
	l := []string{"stage"}
	return &queueCollector{stages: stages, engine: engine,
		samples: prometheus.NewDesc("hazardgw_queue_samples", "Samples queued in front of a pipeline stage.", l, nil),
		events:  prometheus.NewDesc("hazardgw_queue_events", "Alarm events queued in front of a pipeline stage (never dropped).", l, nil),
		dropped: prometheus.NewDesc("hazardgw_queue_dropped_samples_total",
			"Samples a stage's queue dropped (oldest first) because the stage lagged.", l, nil),
		input:    prometheus.NewDesc("hazardgw_alarm_input_batches", "Sample batches and commands waiting for the alarm engine.", nil, nil),
		capacity: prometheus.NewDesc("hazardgw_alarm_input_capacity", "Capacity of the engine's input queue; when full the drivers wait.", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.samples
	ch <- c.events
	ch <- c.dropped
	ch <- c.input
	ch <- c.capacity
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stages {
		n, e := s.depth()
		ch <- prometheus.MustNewConstMetric(c.samples, prometheus.GaugeValue, float64(n), s.stage)
		ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(e), s.stage)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.dropped()), s.stage)
	}
	q, capa := c.engine()
	ch <- prometheus.MustNewConstMetric(c.input, prometheus.GaugeValue, float64(q))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(capa))
}

// queueStage is the stage behind an alarms.Queue (the store, the console).
func queueStage(stage string, q *alarms.Queue) stageQueue {
	return stageQueue{stage: stage, depth: q.Len, dropped: q.Dropped}
}

// pipelineQueues lists the queue of every engine output of a running
// gateway: the store, the console and, when configured, the uplink (whose
// alarm events are read from the journal, not queued: its lag is
// hazardgw_mqtt_event_cursor behind the engine's seq).
func pipelineQueues(st *store.Store, con *console.Server, outs *outputs.Set) []stageQueue {
	stages := []stageQueue{queueStage("store", st.Queue()), queueStage("console", con.Queue())}
	if u := outs.Uplink(); u != nil {
		stages = append(stages, stageQueue{stage: "uplink",
			depth:   func() (int, int) { n, _ := u.Queue(); return n, 0 },
			dropped: func() uint64 { _, d := u.Queue(); return d }})
	}
	return stages
}
