package modbus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the driver's Prometheus collectors. A nil *metrics (no
// registerer) records nothing.
type metrics struct {
	requests *prometheus.CounterVec
	up       *prometheus.GaugeVec
	rtt      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazardgw_modbus_requests_total",
			Help: "Modbus transactions by device and result (ok, timeout, connection, framing, exception).",
		}, []string{"device", "result"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hazardgw_modbus_device_up",
			Help: "1 when the device's last poll succeeded, 0 when it failed or it is demoted.",
		}, []string{"device"}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hazardgw_modbus_rtt_seconds",
			Help: "Round-trip time of the device's good transactions (TCP devices answer in 5-20 ms, RTU-over-TCP gateways in 100-500 ms).",
			// 2.5 ms .. 2.5 s: from a fast TCP device to a slow serial gateway.
			Buckets: []float64{.0025, .005, .01, .02, .05, .1, .2, .5, 1, 2.5},
		}, []string{"device"}),
	}
	reg.MustRegister(m.requests, m.up, m.rtt)
	return m
}

// devMetrics are one device's children, looked up once.
type devMetrics struct {
	res [len(resultNames)]prometheus.Counter // by result
	up  prometheus.Gauge
	rtt prometheus.Observer
}

func (m *metrics) device(id string) *devMetrics {
	if m == nil {
		return nil
	}
	dm := &devMetrics{up: m.up.WithLabelValues(id), rtt: m.rtt.WithLabelValues(id)}
	for r, name := range resultNames {
		dm.res[r] = m.requests.WithLabelValues(id, name)
	}
	return dm
}

func (dm *devMetrics) observe(r result, rtt time.Duration) {
	if dm == nil {
		return
	}
	dm.res[r].Inc()
	if r == resOK {
		dm.rtt.Observe(rtt.Seconds())
	}
}

func (dm *devMetrics) setUp(up bool) {
	if dm == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	dm.up.Set(v)
}
