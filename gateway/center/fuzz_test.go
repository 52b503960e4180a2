package center

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzMessage feeds outside input (a topic and a payload under a site
// filter) to the center: it never panics, never shows an alarm of a site
// other than the topic's, and the journal read again at a restart gives
// the same sites and seqs.
func FuzzMessage(f *testing.F) {
	for _, seed := range []struct{ topic, payload string }{
		{"hazard/S1/alarms", `{"seq":1,"id":"P:hi","site":"S1","priority":"high","state":"unack","active":true,"time":"2026-11-30T08:00:00.000Z"}`},
		{"hazard/S1/alarms", `{"seq":3,"id":"P:hi","site":"S1","priority":"high","state":"normal"}`},
		{"hazard/S1/alarms", `{"seq":2,"id":"P:hi","site":"S2","priority":"high","state":"unack"}`},
		{"hazard/S1/alarms", `{"seq":-1}`},
		{"hazard/S1/samples", `{"site":"S1","samples":[{"point":"P","value":1,"quality":"good","time":"x"}]}`},
		{"hazard/S1/status", `{"site":"S1","status":"offline"}`},
		{"hazard/S1/notices/ack", `{"id":"x","site":"S1"}`},
		{"hazard//alarms", `{}`},
		{"alarms", `{}`},
	} {
		f.Add(seed.topic, []byte(seed.payload))
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		dir := t.TempDir()
		cfg := centerConfig(t, []string{"tcp://127.0.0.1:1"}, dir, "")
		c, err := New(cfg, Options{Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.open(); err != nil {
			t.Fatal(err)
		}
		c.handle(topic, payload, nil)
		c.handle(topic, payload, nil) // a redelivery
		before := c.Sites()
		for id, s := range c.sites {
			for _, ev := range s.alarms {
				if ev.Site != id {
					t.Fatalf("site %s shows an alarm of %s", id, ev.Site)
				}
			}
			if s.hwm > s.maxSeen && s.maxSeen > 0 {
				t.Fatalf("site %s: hwm %d beyond max %d", id, s.hwm, s.maxSeen)
			}
		}
		if err := c.j.close(); err != nil {
			t.Fatal(err)
		}
		again, err := New(cfg, Options{Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		if err := again.open(); err != nil {
			t.Fatal(err)
		}
		defer again.j.close()
		after := again.Sites()
		for i := range before {
			if before[i].Events == 0 {
				continue // a site known from samples or status only is not journaled
			}
			found := false
			for _, a := range after {
				if a.Site == before[i].Site {
					found = true
					if a.Seq != before[i].Seq || a.Events != before[i].Events {
						t.Fatalf("site %s after restart: seq %d events %d, before %d %d", a.Site, a.Seq, a.Events, before[i].Seq, before[i].Events)
					}
				}
			}
			if !found {
				t.Fatalf("site %s lost at restart", before[i].Site)
			}
		}
	})
}
