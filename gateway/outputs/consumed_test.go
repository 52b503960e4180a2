package outputs_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/gateway/outputs"
)

// TestConsumedIsTheSlowestTarget: Consumed (what the journal's retention
// keeps after) is the lowest acknowledged cursor: a notify target that has
// published everything does not let it pass the uplink, cut off from its
// broker; once the uplink has caught up, Consumed follows.
func TestConsumedIsTheSlowestTarget(t *testing.T) {
	b := mqtttest.StartMochi(t)
	gt := mqtttest.NewGate(t, b.Addr)
	ops := b.Subscribe(t, "hz/notify/ops", 1)
	j := &seqJournal{}
	for range 10 {
		j.add("ops")
	}
	cfg := config(t, b.URL)
	cfg.Brokers = append(cfg.Brokers, configs.Broker{Name: "up", URL: gt.URL()})
	cfg.Uplink = &configs.Uplink{Broker: "up", Prefix: "hz/S1"}
	cfg.Notify = []configs.Notify{{Name: "ops", Kind: "mqtt", Broker: "plant", Topic: "hz/notify/ops", QoS: 1}}
	reg := prometheus.NewRegistry()
	g := startGW(t, cfg, outputs.Options{Events: j, Registerer: reg})
	g.waitUp(t)
	mqtttest.WaitFor(t, "both targets start after seq 10", func() bool { seq, ok := g.outs.Consumed(); return ok && seq == 10 })

	gt.SetOpen(false)
	gt.Kill()
	for range 3 {
		ev := j.add("ops")
		for _, o := range g.outs.Outputs() {
			o.Event(ev)
		}
	}
	ops.WaitN(t, 3, 10*time.Second)
	mqtttest.WaitFor(t, "the notify cursor at 13", func() bool {
		return mqtttest.Gathered(t, reg, "hazardgw_mqtt_event_cursor", "target", "ops") == 13
	})
	if seq, _ := g.outs.Consumed(); seq != 10 {
		t.Fatalf("consumed %d while the uplink, cut off, has acknowledged only up to 10", seq)
	}
	gt.SetOpen(true)
	mqtttest.WaitFor(t, "the uplink caught up: consumed 13", func() bool { seq, _ := g.outs.Consumed(); return seq == 13 })
}
