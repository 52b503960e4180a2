package mqtt

import "github.com/prometheus/client_golang/prometheus"

// metrics are the package's Prometheus collectors, labelled by broker name
// (or by uplink/notify target name).
type metrics struct {
	messages     *prometheus.CounterVec // broker
	decodeErrors *prometheus.CounterVec // broker, reason
	dropped      *prometheus.CounterVec // broker: queue overflow, oldest dropped
	connLost     *prometheus.CounterVec // broker
	connects     *prometheus.CounterVec // broker
	published    *prometheus.CounterVec // target: alarm events acknowledged by the broker
	cursor       *prometheus.GaugeVec   // target: last seq the broker acknowledged
	samplesSent  *prometheus.CounterVec // broker
	samplesDrop  *prometheus.CounterVec // broker: uplink samples dropped (buffer full or broker down)
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_messages_total",
			Help: "MQTT messages received on subscribed point topics."}, []string{"broker"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_decode_errors_total",
			Help: "Point samples of quality bad/decode, by reason."}, []string{"broker", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_queue_dropped_total",
			Help: "Received messages dropped because the decode queue was full (oldest first)."}, []string{"broker"}),
		connLost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_connection_lost_total",
			Help: "Broker connections lost."}, []string{"broker"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_connects_total",
			Help: "Broker connections made (subscriptions made again each time)."}, []string{"broker"}),
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
		for _, c := range []prometheus.Collector{m.messages, m.decodeErrors, m.dropped, m.connLost, m.connects,
			m.published, m.cursor, m.samplesSent, m.samplesDrop} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
