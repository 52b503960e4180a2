package mqtt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
)

func pub(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func streamPoints() []configs.Point {
	return []configs.Point{
		{ID: "TK-101.LT", Topic: "plant/tank/TK-101", Path: "level", TimePath: "ts", Range: []float64{0, 100}},
		{ID: "TK-101.TT", Topic: "plant/tank/TK-101", Path: "temp"},
		{ID: "RAW", Topic: "plant/raw"},
		{ID: "W-2", Topic: "plant/area/+/gas", Path: "W-2.ppm"},
		{ID: "W-3", Topic: "plant/area/#", Path: "W-3.ppm"},
	}
}

// TestStreamAcrossBrokerRestart: values flow, the broker restarts in the
// middle, the points go bad/comm while it is gone, subscriptions are made
// again and values flow afterwards.
func TestStreamAcrossBrokerRestart(t *testing.T) {
	for _, bk := range brokers {
		t.Run(bk.Name, func(t *testing.T) {
			b := bk.Start(t)
			cfg := baseConfig(t, b.URL)
			cfg.Devices = []configs.Device{mqttDevice(1, streamPoints()...)}
			g := startGW(t, cfg, mqtt.Options{})
			g.waitUp(t)
			p := b.Publisher(t)
			pub(t, p, "plant/tank/TK-101", `{"level": 42.5, "temp": -3, "ts": "2026-11-28T08:00:00.000Z"}`)
			pub(t, p, "plant/raw", `7`)
			pub(t, p, "plant/area/z1/gas", `{"W-2":{"ppm":12}}`)
			pub(t, p, "plant/area/z1/gas", `{"W-3":{"ppm":13}}`)
			all := g.sink.wait(t, "first values", func(s []drivers.Sample) bool {
				return has("TK-101.LT", 42.5, drivers.Good, 0)(s) && has("TK-101.TT", -3, drivers.Good, 0)(s) &&
					has("RAW", 7, drivers.Good, 0)(s) && has("W-2", 12, drivers.Good, 0)(s) && has("W-3", 13, drivers.Good, 0)(s)
			})
			for _, s := range all {
				if s.Point == "TK-101.LT" && !s.Time.Equal(time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)) {
					t.Errorf("TK-101.LT time %v, want the payload's ts", s.Time)
				}
				if s.Quality != drivers.Good {
					t.Errorf("unexpected %+v (a wildcard message lacking a point's field must not touch it)", s)
				}
			}

			b.Restart()
			g.sink.wait(t, "comm samples while the broker is away", func(s []drivers.Sample) bool {
				for _, id := range []string{"TK-101.LT", "TK-101.TT", "RAW", "W-2", "W-3"} {
					if !hasCause(id, drivers.CauseComm)(s) {
						return false
					}
				}
				return true
			})
			g.waitUp(t)
			p2 := b.Publisher(t)
			pub(t, p2, "plant/tank/TK-101", `{"level": 55, "temp": 1, "ts": 1795852800000}`)
			pub(t, p2, "plant/raw", `true`)
			pub(t, p2, "plant/area/z9/gas", `{"W-2":{"ppm":22},"W-3":{"ppm":23}}`)
			g.sink.wait(t, "values after the restart", func(s []drivers.Sample) bool {
				return has("TK-101.LT", 55, drivers.Good, 0)(s) && has("RAW", 1, drivers.Good, 0)(s) &&
					has("W-2", 22, drivers.Good, 0)(s) && has("W-3", 23, drivers.Good, 0)(s)
			})
		})
	}
}

// TestMalformedPayloads: every kind of bad payload gives bad/decode for
// its point, is counted by reason, and the stream goes on.
func TestMalformedPayloads(t *testing.T) {
	for _, bk := range brokers {
		t.Run(bk.Name, func(t *testing.T) {
			b := bk.Start(t)
			cfg := baseConfig(t, b.URL)
			cfg.Devices = []configs.Device{mqttDevice(0,
				configs.Point{ID: "J", Topic: "m/json", Path: "a.v", TimePath: "ts"},
				configs.Point{ID: "N", Topic: "m/bare"},
			)}
			reg := prometheus.NewRegistry()
			g := startGW(t, cfg, mqtt.Options{Registerer: reg})
			g.waitUp(t)
			p := b.Publisher(t)
			bad := []struct{ topic, payload, reason string }{
				{"m/json", `not json`, "not json"},
				{"m/json", `{"a":`, "not json"},
				{"m/json", "\x00\x01\xff", "not json"},
				{"m/json", `{"b":1,"ts":1}`, "path missing"},
				{"m/json", `{"a":{"v":"12"},"ts":1}`, "not a number"},
				{"m/json", `{"a":{"v":null},"ts":1}`, "not a number"},
				{"m/json", `{"a":{"v":1}}`, "time missing"},
				{"m/json", `{"a":{"v":1},"ts":"noon"}`, "bad time"},
				{"m/json", ``, "empty payload"},
				{"m/bare", `NaN`, "not a number"},
				{"m/bare", `{"v":1}`, "not a number"},
				{"m/bare", string(make([]byte, mqtt.MaxPayload+1)), "payload too large"},
			}
			want := map[string]float64{}
			for _, c := range bad {
				pub(t, p, c.topic, c.payload)
				want[c.reason]++
			}
			pub(t, p, "m/json", `{"a":{"v":3},"ts":"2026-11-28T08:00:00Z"}`)
			pub(t, p, "m/bare", `4`)
			all := g.sink.wait(t, "good values after the bad ones", func(s []drivers.Sample) bool {
				return has("J", 3, drivers.Good, 0)(s) && has("N", 4, drivers.Good, 0)(s)
			})
			decodes := 0
			for _, s := range all {
				if s.Cause == drivers.CauseDecode {
					decodes++
				}
			}
			if decodes != len(bad) {
				t.Errorf("%d bad/decode samples, want %d", decodes, len(bad))
			}
			for reason, n := range want {
				got := mqtttest.Gathered(t, reg, "hazardgw_mqtt_decode_errors_total", "reason", strings.ReplaceAll(reason, " ", "_")) // label values carry no spaces
				if got != n {
					t.Errorf("decode errors %q = %v, want %v", reason, got, n)
				}
			}
		})
	}
}

// TestCommWhileBrokerUnreachable: a broker that never answers gives
// bad/comm samples for every point, repeatedly.
func TestCommWhileBrokerUnreachable(t *testing.T) {
	cfg := baseConfig(t, "tcp://127.0.0.1:1") // nothing listens on port 1
	cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "A", Topic: "a"}, configs.Point{ID: "B", Topic: "b"})}
	g := startGW(t, cfg, mqtt.Options{})
	g.sink.wait(t, "two rounds of comm samples", func(s []drivers.Sample) bool {
		n := 0
		for _, x := range s {
			if x.Point == "A" && x.Cause == drivers.CauseComm {
				n++
			}
		}
		return n >= 2 && hasCause("B", drivers.CauseComm)(s)
	})
	if h := g.conns.Health(); len(h) != 1 || h[0].State != "down" || h[0].ID != "mqtt:plant" {
		t.Errorf("health %+v, want one down mqtt:plant", h)
	}
}

// TestTLS: ssl:// with a CA generated here and a client certificate the
// broker requires.
func TestTLS(t *testing.T) {
	ca := mqtttest.NewCA(t)
	starts := []struct {
		Name  string
		Start func(testing.TB) *mqtttest.Broker
	}{
		{"mochi", func(t testing.TB) *mqtttest.Broker {
			return mqtttest.StartMochiWith(t, mqtttest.MochiOptions{TLS: ca.ServerTLS(true)})
		}},
		{"mochi wss", func(t testing.TB) *mqtttest.Broker {
			return mqtttest.StartMochiWith(t, mqtttest.MochiOptions{TLS: ca.ServerTLS(true), Websocket: true})
		}},
		{"mosquitto", func(t testing.TB) *mqtttest.Broker {
			return mqtttest.StartMosquittoWith(t, mqtttest.MosquittoOptions{CAFile: ca.CAFile, CertFile: ca.ServerCertFile,
				KeyFile: ca.ServerKeyFile, Extra: []string{"require_certificate true"}})
		}},
	}
	for _, bk := range starts {
		t.Run(bk.Name, func(t *testing.T) {
			b := bk.Start(t)
			cfg := baseConfig(t, b.URL)
			cfg.Brokers[0].CA, cfg.Brokers[0].Cert, cfg.Brokers[0].Key = ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile
			cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "T", Topic: "tls/t"})}
			g := startGW(t, cfg, mqtt.Options{})
			g.waitUp(t)
			p := b.Publisher(t, func(o *paho.ClientOptions) { o.SetTLSConfig(ca.ClientTLS()) })
			pub(t, p, "tls/t", "21.5")
			g.sink.wait(t, "a value over TLS", has("T", 21.5, drivers.Good, 0))
		})
	}
	t.Run("unknown CA refused", func(t *testing.T) {
		other := mqtttest.NewCA(t)
		b := mqtttest.StartMochiWith(t, mqtttest.MochiOptions{TLS: ca.ServerTLS(false)})
		cfg := baseConfig(t, b.URL)
		cfg.Brokers[0].CA = other.CAFile
		cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "T", Topic: "tls/t"})}
		g := startGW(t, cfg, mqtt.Options{})
		g.sink.wait(t, "comm samples: the server certificate is not trusted", hasCause("T", drivers.CauseComm))
	})
}

// TestManyTopics subscribes to 300 exact topics at once (one SUBSCRIBE)
// and sees each.
func TestManyTopics(t *testing.T) {
	b := mqtttest.StartMochi(t)
	cfg := baseConfig(t, b.URL)
	var pts []configs.Point
	for i := range 300 {
		pts = append(pts, configs.Point{ID: fmt.Sprintf("P%d", i), Topic: fmt.Sprintf("many/%d", i)})
	}
	cfg.Devices = []configs.Device{mqttDevice(0, pts...)}
	g := startGW(t, cfg, mqtt.Options{})
	g.waitUp(t)
	p := b.Publisher(t)
	for i := range 300 {
		pub(t, p, fmt.Sprintf("many/%d", i), fmt.Sprint(i))
	}
	g.sink.wait(t, "300 points", func(s []drivers.Sample) bool {
		seen := map[drivers.PointID]bool{}
		for _, x := range s {
			if x.Quality == drivers.Good && fmt.Sprintf("P%v", x.Value) == string(x.Point) {
				seen[x.Point] = true
			}
		}
		return len(seen) == 300
	})
}

// TestWebsocket: ws:// to mochi's websocket listener.
func TestWebsocket(t *testing.T) {
	b := mqtttest.StartMochiWith(t, mqtttest.MochiOptions{Websocket: true})
	cfg := baseConfig(t, b.URL)
	cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "W", Topic: "ws/t"})}
	g := startGW(t, cfg, mqtt.Options{})
	g.waitUp(t)
	pub(t, b.Publisher(t), "ws/t", "3")
	g.sink.wait(t, "a value over a websocket", has("W", 3, drivers.Good, 0))
}

// TestPersistentSession: with clean_session = false, QoS 1 values published
// while the gateway was cut off arrive when it is back (the broker kept
// its session).
func TestPersistentSession(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	gt := mqtttest.NewGate(t, b.Addr)
	cfg := baseConfig(t, gt.URL())
	keep := false
	cfg.Brokers[0].CleanSession = &keep
	cfg.Devices = []configs.Device{mqttDevice(1, configs.Point{ID: "Q", Topic: "q/t"})}
	g := startGW(t, cfg, mqtt.Options{})
	g.waitUp(t)
	p := b.Publisher(t)
	pub(t, p, "q/t", "1")
	g.sink.wait(t, "the first value", has("Q", 1, drivers.Good, 0))
	gt.SetOpen(false)
	gt.Kill()
	g.sink.wait(t, "comm while cut off", hasCause("Q", drivers.CauseComm))
	pub(t, p, "q/t", "2") // the gateway is away: the broker queues it in the session
	gt.SetOpen(true)
	g.sink.wait(t, "the value published while away", has("Q", 2, drivers.Good, 0))
}
