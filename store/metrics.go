package store

import "github.com/prometheus/client_golang/prometheus"

// metrics are the store's Prometheus collectors (namespace hazardgw_store).
type metrics struct {
	accepted   prometheus.Counter     // samples written to the outbox
	events     prometheus.Counter     // alarm events written to the outbox
	dropped    *prometheus.CounterVec // samples lost, by reason: queue, outbox_full, disk_error, closed
	rejected   *prometheus.CounterVec // lines InfluxDB refused with 4xx, by cause
	written    *prometheus.CounterVec // lines InfluxDB acknowledged, by kind
	writeErrs  prometheus.Counter     // failed write requests (retried)
	diskErrors prometheus.Counter
	syncs      prometheus.Counter
	damaged    *prometheus.CounterVec // outbox records lost to damage, by queue
}

func newMetrics(reg prometheus.Registerer, s *Store) *metrics {
	const ns, sub = "hazardgw", "store"
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "samples_accepted_total",
			Help: "Samples written to the outbox."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_accepted_total",
			Help: "Alarm events written to the outbox."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "samples_dropped_total",
			Help: "Samples lost before InfluxDB, by reason (queue, outbox_full, disk_error, closed)."}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "lines_rejected_total",
			Help: "Lines InfluxDB refused with 4xx and that were dropped, by cause."}, []string{"cause"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "lines_written_total",
			Help: "Lines InfluxDB acknowledged, by kind (samples, events)."}, []string{"kind"}),
		writeErrs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "write_errors_total",
			Help: "InfluxDB write requests that failed and are retried."}),
		diskErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "disk_errors_total",
			Help: "Outbox writes that failed."}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "fsyncs_total",
			Help: "Periodic outbox fsyncs."}),
		damaged: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "outbox_damaged_records_total",
			Help: "Outbox records lost to damage (did not check; skipped), by queue (events: taken again from the journal)."}, []string{"queue"}),
	}
	// Every labelled series exists from the start, at 0, so a rate() or an
	// alert sees the first loss instead of a series appearing.
	for _, r := range []string{"queue", "outbox_full", "disk_error", "closed"} {
		m.dropped.WithLabelValues(r)
	}
	for _, c := range []string{"bad_request", "field_type_conflict", "unable_to_parse", "beyond_retention", "too_large"} {
		m.rejected.WithLabelValues(c)
	}
	for _, k := range []Kind{Events, Samples} {
		m.written.WithLabelValues(k.String())
		m.damaged.WithLabelValues(k.String())
	}
	if reg == nil {
		return m
	}
	gauge := func(name, help string, f func(Health) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help},
			func() float64 { return f(s.Health()) })
	}
	reg.MustRegister(m.accepted, m.events, m.dropped, m.rejected, m.written, m.writeErrs, m.diskErrors, m.syncs, m.damaged,
		gauge("outbox_bytes", "Bytes of the outbox on disk.", func(h Health) float64 { return float64(h.OutboxBytes) }),
		gauge("outbox_samples", "Samples in the outbox not yet acknowledged by InfluxDB.", func(h Health) float64 { return float64(h.OutboxSamples) }),
		gauge("outbox_events", "Alarm events in the outbox not yet acknowledged by InfluxDB.", func(h Health) float64 { return float64(h.OutboxEvents) }),
		gauge("outbox_oldest_age_seconds", "Age of the oldest unacknowledged outbox entry.", func(h Health) float64 { return h.OldestAgeS }),
		gauge("outbox_full", "1 when only alarm events are left and they fill the outbox.", func(h Health) float64 { return b2f(h.OutboxFull) }),
	)
	if s.db != nil {
		// Without [store.influxdb] there is no InfluxDB to be down: no series
		// (an alert on influxdb_up == 0 would fire on every site without one).
		reg.MustRegister(gauge("influxdb_up", "1 when the last InfluxDB write succeeded.", func(h Health) float64 { return b2f(h.InfluxDB == "up") }))
	}
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
