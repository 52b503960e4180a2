package console

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the console's collectors, registered on the registry the
// gateway passes in Deps.Registry.
type metrics struct {
	clients        prometheus.Gauge
	alarmFrames    prometheus.Counter
	samplesDropped *prometheus.CounterVec // where: hub (queue from the engine) | client (a slow client's frame)
	disconnects    *prometheus.CounterVec // reason: slow | write_timeout | unauthorized
	commands       *prometheus.CounterVec // type, result
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hazardgw_console_clients",
			Help: "Connected websocket clients."}),
		alarmFrames: prometheus.NewCounter(prometheus.CounterOpts{Name: "hazardgw_console_alarm_frames_total",
			Help: "Alarm frames queued to websocket clients."}),
		samplesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_console_samples_dropped_total",
			Help: "Samples dropped before the hub (where=hub, in samples) or samples frames dropped for a slow client (where=client, in frames)."},
			[]string{"where"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_console_rejects_total",
			Help: "Websocket clients disconnected as too slow (alarm queue overflow: slow; no write progress for WriteWait: write_timeout), or refused for a wrong token."}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_console_commands_total",
			Help: "Operator commands by type and result (ok, error, forbidden, rate_limited)."}, []string{"type", "result"}),
	}
	// Series exist at 0 from the start, so a rate() or an alert sees the
	// first loss (docs/monitoring).
	for _, w := range []string{"hub", "client"} {
		m.samplesDropped.WithLabelValues(w)
	}
	for _, c := range []prometheus.Collector{m.clients, m.alarmFrames, m.samplesDropped, m.disconnects, m.commands} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}
