package mqtt_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
)

// TestEmbeddedBrokerOwnsDistrictTopics: on the embedded broker,
// PREFIX/replay, PREFIX/notices and PREFIX/notices/ack (the district
// wire contract) are the gateway's: an ordinary client's publish there is
// refused and counted and never reaches the gateway's subscriptions
// (Conn.Subscribe); the gateway's own publish does.
func TestEmbeddedBrokerOwnsDistrictTopics(t *testing.T) {
	addr := freeAddr(t)
	cfg := &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: t.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: "embedded", Listen: addr}},
		Uplink:  &configs.Uplink{Broker: "plant", Prefix: "hazard/S1"}}
	cfg.SetDefaults()
	reg := prometheus.NewRegistry()
	c, err := mqtt.New(cfg, mqtt.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got []string
	)
	conn := c.Conn("plant")
	for _, f := range []string{"hazard/S1/replay", "hazard/S1/notices", "hazard/S1/notices/ack"} {
		conn.Subscribe(f, 1, func(topic string, payload []byte) {
			mu.Lock()
			got = append(got, topic+" "+string(payload))
			mu.Unlock()
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Conns.Run: %v", err)
		}
	})
	mqtttest.WaitUp(t, c.Health)

	b := &mqtttest.Broker{URL: "tcp://" + addr, Addr: addr}
	intruder := b.Publisher(t)
	forbidden := []string{"hazard/S1/replay", "hazard/S1/notices", "hazard/S1/notices/ack"}
	for _, topic := range forbidden {
		if tok := intruder.Publish(topic, 1, false, "intruder"); !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("publish %s: no answer", topic)
		}
	}
	mqtttest.WaitFor(t, "refusals counted", func() bool {
		return mqtttest.Gathered(t, reg, "hazardgw_mqtt_acl_refused_total", "broker", "plant") == float64(len(forbidden))
	})
	if tok := conn.Publish("hazard/S1/replay", 1, false, []byte("own")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the gateway's own publish: %v", tok.Error())
	}
	mqtttest.WaitFor(t, "the gateway's own publish delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "hazard/S1/replay own" {
		t.Fatalf("the gateway's subscriptions got %q, want only its own publish", got)
	}
}
