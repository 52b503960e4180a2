package mqtt_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// TestEmbeddedBroker: url = "embedded" starts mochi on listen with
// username/password; the gateway's own client and an outside client with
// the credentials use it; a wrong password is refused.
func TestEmbeddedBroker(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg := &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: t.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: "embedded", Listen: addr, Username: "gw", Password: "s3cret"}}}
	cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "E", Topic: "e/v", Path: "v"})}
	g := startGW(t, cfg, mqtt.Options{})
	g.waitUp(t)
	b := &mqtttest.Broker{URL: "tcp://" + addr, Addr: addr}
	creds := func(user, pass string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(pass) }
	}
	p := b.Publisher(t, creds("gw", "s3cret"))
	pub(t, p, "e/v", `{"v": 9}`)
	g.sink.wait(t, "a value through the embedded broker", has("E", 9, drivers.Good, 0))

	bad := paho.NewClient(b.ClientOptions("intruder").SetUsername("gw").SetPassword("wrong").SetConnectRetry(false).SetAutoReconnect(false))
	tok := bad.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
		t.Fatal("wrong password accepted")
	}
	g.cancel()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("embedded broker still listening after Run returned")
	}
}

// TestEmbeddedBrokerACL is finding 5 of issue 13: a foreign client
// published a retained PREFIX/status and a fake alarm on the gateway's own
// topics. Now only the gateway publishes under the uplink prefix and on
// notify topics; others only on point topics; refusals are counted.
func TestEmbeddedBrokerACL(t *testing.T) {
	addr := testenv.FreeAddr(t)
	cfg := &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: t.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: "embedded", Listen: addr}},
		Uplink:  &configs.Uplink{Broker: "plant", Prefix: "hazard/S1"},
		Notify:  []configs.Notify{{Name: "platform", Kind: "mqtt", Broker: "plant", Topic: "ops/alarms"}}}
	cfg.Devices = []configs.Device{mqttDevice(1,
		configs.Point{ID: "TK-101.LT", Topic: "plant/tank/TK-101", Path: "level"},
		configs.Point{ID: "ANY", Topic: "plant/any/+", Path: "v"})}
	reg := prometheus.NewRegistry()
	g := startGW(t, cfg, mqtt.Options{Registerer: reg})
	g.waitUp(t)
	b := &mqtttest.Broker{URL: "tcp://" + addr, Addr: addr}
	all := b.Subscribe(t, "#", 1)

	intruder := b.Publisher(t)
	forbidden := []string{"hazard/S1/status", "hazard/S1/alarms", "hazard/S1", "ops/alarms", "elsewhere/topic"}
	for _, topic := range forbidden {
		tok := intruder.Publish(topic, 0, true, `{"seq": 999999, "status": "offline"}`)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	pub(t, intruder, "plant/tank/TK-101", `{"level": 7}`)
	pub(t, intruder, "plant/any/x", `{"v": 8}`)
	own := g.conns.Conn("plant").Publish("hazard/S1/alarms", 1, false, []byte("own"))
	if !own.WaitTimeout(10*time.Second) || own.Error() != nil {
		t.Fatalf("the gateway's own publish: %v", own.Error())
	}
	g.sink.wait(t, "the point topic's value", has("TK-101.LT", 7, drivers.Good, 0))
	msgs := all.Wait(t, 20*time.Second, func(m []mqtttest.Message) bool {
		var point, mine bool
		for _, x := range m {
			point = point || x.Topic == "plant/any/x"
			mine = mine || string(x.Payload) == "own"
		}
		return point && mine
	})
	for _, m := range msgs {
		if strings.Contains(string(m.Payload), "999999") {
			t.Errorf("a foreign publish on %s was delivered", m.Topic)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "hazardgw_mqtt_acl_refused_total" {
			for _, m := range mf.GetMetric() {
				got += m.GetCounter().GetValue()
			}
		}
	}
	if got != float64(len(forbidden)) {
		t.Errorf("refused publishes counted %v, want %d", got, len(forbidden))
	}
}

// TestEmbeddedBrokerOwnsDistrictTopics: on the embedded broker,
// PREFIX/replay, PREFIX/notices and PREFIX/notices/ack (the district
// wire contract) are the gateway's: an ordinary client's publish there is
// refused and counted and never reaches the gateway's subscriptions
// (Conn.Subscribe); the gateway's own publish does.
func TestEmbeddedBrokerOwnsDistrictTopics(t *testing.T) {
	addr := testenv.FreeAddr(t)
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
	// QoS 0: a refused QoS 1 publish ends the intruder's connection.
	for _, topic := range forbidden {
		if tok := intruder.Publish(topic, 0, false, "intruder"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
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
