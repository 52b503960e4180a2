package center

import "github.com/prometheus/client_golang/prometheus"

// metrics are the center's Prometheus collectors (/metrics).
type metrics struct {
	sites           prometheus.GaugeFunc
	events          prometheus.Counter
	duplicates      prometheus.Counter
	gaps            prometheus.Counter
	replays         prometheus.Counter
	lost            prometheus.Counter
	refused         *prometheus.CounterVec // reason: malformed | site | foreign | journal
	notices         *prometheus.CounterVec // kind: sent | acked
	dropped         prometheus.Counter     // websocket clients cut off (slow)
	evicted         prometheus.Counter     // journal records deleted by journal_max_bytes before keep or before InfluxDB took them
	subscribeFailed prometheus.Counter     // subscriptions refused, failed or unanswered (retried)
}

func newMetrics(reg prometheus.Registerer, sites func() float64) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "hazardgw_center_" + name, Help: help})
	}
	m := &metrics{
		sites: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hazardgw_center_sites",
			Help: "Sites the center knows (heard, or in its journal)."}, sites),
		events:     c("events_total", "Site alarm events stored in the center journal."),
		duplicates: c("duplicates_total", "Site alarm events dropped as already stored (same site and seq)."),
		gaps:       c("gaps_total", "Gaps detected in a site's seq (each starts replay requests)."),
		replays:    c("replays_total", "Replay requests published (PREFIX/replay)."),
		lost:       c("lost_total", "Site seqs the site no longer had when asked (permanent gaps)."),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_center_refused_total",
			Help: "Messages on site topics refused: malformed payload, site disagreeing with the topic, foreign topic, or journal failure (not acknowledged)."},
			[]string{"reason"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hazardgw_center_notices_total",
			Help: "Notices sent to sites, and acknowledgements received."}, []string{"kind"}),
		dropped:         c("ws_dropped_total", "Websocket clients cut off because their queue was full (they must resume)."),
		subscribeFailed: c("subscribe_failed_total", "Subscriptions to the site topics the broker refused (0x80), failed or left unanswered; the center retries and is not up meanwhile."),
		evicted:         c("journal_evicted_total", "Center journal records deleted because store.journal_max_bytes forced it, before store.journal_keep was over or before InfluxDB took them."),
	}
	for _, col := range []prometheus.Collector{m.sites, m.events, m.duplicates, m.gaps, m.replays, m.lost, m.refused, m.notices, m.dropped, m.evicted, m.subscribeFailed} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}
