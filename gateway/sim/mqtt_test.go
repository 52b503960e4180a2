package sim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"hazardgw/configs"
	"hazardgw/internal/testenv"
)

// allowAll lets every client connect and publish (the auth package of
// mochi pulls in a YAML module this repository does not carry).
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// startBroker starts an in-process mochi broker on addr and returns a
// channel of every message published on it.
func startBroker(t *testing.T, addr string) <-chan packets.Packet {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	msgs := make(chan packets.Packet, 1024)
	var once sync.Once
	stopped := make(chan struct{})
	if err := srv.Subscribe("plant/#", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		select {
		case msgs <- pk:
		case <-stopped:
		default: // the test reads what it needs; more is not waited for
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { once.Do(func() { close(stopped) }); srv.Close() })
	return msgs
}

func TestMQTTPublish(t *testing.T) {
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	clk := &clock{t: t0}
	cfg := loadConfig(t, "testdata/mqtt.toml", port)
	// The plant starts before its broker (the demo's embedded broker starts
	// in the same process): it must keep trying to connect.
	p := startPlant(t, cfg, Options{Now: clk.Now})
	msgs := startBroker(t, addr)

	want := map[string]string{
		"plant/tank/TK-101":       `{"level":42.5,"radar":{"level":43},"ts":"2026-11-28T08:00:00.000Z"}`,
		"plant/tank/TK-102/level": `12.25`,
		"plant/tank/TK-103/sim":   `3`,
	}
	got := map[string]string{}
	deadline := time.After(20 * time.Second)
	for len(got) < len(want) {
		select {
		case pk := <-msgs:
			if _, ok := want[pk.TopicName]; !ok {
				t.Errorf("unexpected topic %q (payload %s)", pk.TopicName, pk.Payload)
				continue
			}
			got[pk.TopicName] = string(pk.Payload)
		case <-deadline:
			t.Fatalf("after 20s got %v, want every topic of %v", got, want)
		}
	}
	for topic, w := range want {
		if got[topic] != w {
			t.Errorf("%s = %s, want %s", topic, got[topic], w)
		}
	}

	// The redundant pair drifts apart from 60s: 100s -> leader 42.5 +
	// 52.5 x 40/100 = 63.5, follower + 0.5 + min(0.1 x 40, 8) = 68.
	now := t0.Add(100 * time.Second)
	b, err := p.Payload("TK-101.LT2", now)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Level float64 `json:"level"`
		Radar struct {
			Level float64 `json:"level"`
		} `json:"radar"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Level != 63.5 || obj.Radar.Level != 68 {
		t.Errorf("at 100s level=%v radar.level=%v, want 63.5 and 68", obj.Level, obj.Radar.Level)
	}

	// A device in comm loss publishes nothing.
	if err := p.CommLoss("TANKS", true); err != nil {
		t.Fatal(err)
	}
	for _, pub := range p.pubs {
		if m := pub.messages(now); len(m) != 0 {
			t.Errorf("device in comm loss would publish %d messages", len(m))
		}
	}
	if _, err := p.Payload("TK-104.LT", now); err == nil {
		t.Errorf("a point without behaviour has a payload")
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"unknown kind", onePoint(`sim = { kind = "zigzag" }`), `unknown sim kind "zigzag"`},
		{"fault without range", onePoint(`sim = { fault_at = "10s" }`), `sim fault needs the point's range`},
		{"follow nobody", onePoint(`sim = { kind = "follow", follow = "Q" }`), `sim follow "Q": no such simulated point`},
		{"comm loss of unknown device", `
[site]
id = "X"
[simulator]
comm_loss = [{ device = "NOPE", at = "1s" }]
`, `unknown device "NOPE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configsParse(tt.name, tt.toml)
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			_, err = New(cfg, Options{})
			if err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v, want %q", err, tt.want)
			}
		})
	}
}

// onePoint is a config of one simulated Modbus point P with the given sim line.
func onePoint(sim string) string { return simDevice("P", sim) }

// simDevice is a config of site X with one Modbus device D whose holding
// registers 0, 1, ... are the points given as id, sim-line pairs.
func simDevice(idSim ...string) string {
	var b strings.Builder
	b.WriteString("[site]\nid = \"X\"\n[[device]]\nid = \"D\"\ndriver = \"modbus\"\naddress = \"127.0.0.1:1502\"\n")
	for i := 0; i+1 < len(idSim); i += 2 {
		fmt.Fprintf(&b, "  [[device.point]]\n  id = %q\n  register = \"holding\"\n  address = %d\n  type = \"uint16\"\n  %s\n",
			idSim[i], i/2, idSim[i+1])
	}
	return b.String()
}

// TestNewRejectsSharedUnit: the config loader refuses two devices on one
// address and unit too; the plant does not rely on it.
func TestNewRejectsSharedUnit(t *testing.T) {
	one := 1
	cfg := &configs.Config{Devices: []configs.Device{
		{ID: "D1", Driver: "modbus", Transport: "tcp", Address: "127.0.0.1:1502", Unit: &one},
		{ID: "D2", Driver: "modbus", Transport: "tcp", Address: "127.0.0.1:1502", Unit: &one},
	}}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "unit 1 on 127.0.0.1:1502 is already device D1") {
		t.Errorf("New: err = %v", err)
	}
}
