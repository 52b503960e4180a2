package outputs

import "github.com/prometheus/client_golang/prometheus"

// metrics are the package's Prometheus collectors (names kept from when
// the outputs lived in drivers/mqtt), labelled by uplink/notify target or
// by broker name.
type metrics struct {
	published   *prometheus.CounterVec // target: alarm events acknowledged by the broker
	cursor      *prometheus.GaugeVec   // target: last seq the broker acknowledged
	samplesSent *prometheus.CounterVec // broker
	samplesDrop *prometheus.CounterVec // broker: uplink samples dropped (buffer full or broker down)
	replays     prometheus.Counter     // replay requests answered
	replayed    prometheus.Counter     // events published again by replays
	notices     prometheus.Counter     // notices received and kept
	refused     *prometheus.CounterVec // kind: messages to the uplink dropped
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_events_published_total",
			Help: "Alarm events published and acknowledged, by uplink/notify target."}, []string{"target"}),
		cursor: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hazardgw_mqtt_event_cursor",
			Help: "Last alarm seq the broker acknowledged, by uplink/notify target."}, []string{"target"}),
		samplesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_uplink_samples_total",
			Help: "Samples published on PREFIX/samples."}, []string{"broker"}),
		samplesDrop: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_uplink_samples_dropped_total",
			Help: "Uplink samples dropped: buffer full (oldest first) or broker unreachable at the batch time."}, []string{"broker"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{Name: "hazardgw_mqtt_replay_requests_total",
			Help: "Replay requests received on PREFIX/replay (valid ones)."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "hazardgw_mqtt_replayed_events_total",
			Help: "Alarm events published again on PREFIX/alarms by replays."}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{Name: "hazardgw_mqtt_notices_total",
			Help: "Notices received on PREFIX/notices and kept."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_uplink_refused_total",
			Help: "Messages to the uplink dropped: replay (malformed request), notice (malformed), notice_site (for another site), notice_store (could not be kept)."}, []string{"kind"}),
	}
	for _, k := range []string{"replay", "notice", "notice_site", "notice_store"} {
		m.refused.WithLabelValues(k) // a series from the start, at 0
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.published, m.cursor, m.samplesSent, m.samplesDrop, m.replays, m.replayed, m.notices, m.refused} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
