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
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.published, m.cursor, m.samplesSent, m.samplesDrop} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
