package mqtt

import "github.com/prometheus/client_golang/prometheus"

// metrics are the package's Prometheus collectors, labelled by broker name.
type metrics struct {
	messages     *prometheus.CounterVec // broker
	decodeErrors *prometheus.CounterVec // broker, reason
	dropped      *prometheus.CounterVec // broker: queue overflow, oldest dropped
	connLost     *prometheus.CounterVec // broker
	connects     *prometheus.CounterVec // broker
	aclRefused   *prometheus.CounterVec // broker: embedded broker, publish refused
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
		aclRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_mqtt_acl_refused_total",
			Help: "Publishes the embedded broker refused (SPEC §10: a foreign client on a topic that is not a point's, or is the gateway's)."}, []string{"broker"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.messages, m.decodeErrors, m.dropped, m.connLost, m.connects, m.aclRefused} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
