package main

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/internal/testenv"
)

// TestRunUplink: the gateway wires the uplink to the engine and to its
// broker connection: the online status, the hihi event and the samples
// reach the platform's broker, and at SIGTERM the retained offline status
// is published before the connection closes (a clean DISCONNECT sends no
// will, so a connection closed first would leave the status online).
func TestRunUplink(t *testing.T) {
	b := mqtttest.StartMochi(t)
	status := b.Subscribe(t, "hz/TEST-01/status", 1)
	alarms := b.Subscribe(t, "hz/TEST-01/alarms", 1)
	samples := b.Subscribe(t, "hz/TEST-01/samples", 0)
	dir := t.TempDir()
	cfg := simConfig(t, dir, testenv.FreeAddr(t), testenv.FreeAddr(t), 70, fmt.Sprintf(`
[[broker]]
name = "platform"
url = %q

[uplink]
broker = "platform"
prefix = "hz/TEST-01"
samples_every = "200ms"
`, b.URL))
	p := startGateway(t, dir, cfg)

	last := func(want string) func([]mqtttest.Message) bool {
		return func(m []mqtttest.Message) bool {
			if len(m) == 0 {
				return false
			}
			var s struct{ Site, Status string }
			_ = json.Unmarshal(m[len(m)-1].Payload, &s)
			return s.Site == "TEST-01" && s.Status == want
		}
	}
	status.Wait(t, 20*time.Second, last("online"))
	alarms.Wait(t, 20*time.Second, func(m []mqtttest.Message) bool {
		for _, x := range m {
			var ev struct{ ID, State string }
			if json.Unmarshal(x.Payload, &ev) == nil && ev.ID == "NH3-101:hihi" && ev.State == "unack" {
				return true
			}
		}
		return false
	})
	samples.Wait(t, 20*time.Second, func(m []mqtttest.Message) bool {
		for _, x := range m {
			var msg struct {
				Site    string
				Samples []map[string]any
			}
			if json.Unmarshal(x.Payload, &msg) != nil || msg.Site != "TEST-01" {
				continue
			}
			for _, s := range msg.Samples {
				if _, hasCause := s["cause"]; s["point"] == "NH3-101" && s["value"] == 70.0 && s["quality"] == "good" && !hasCause {
					return true
				}
			}
		}
		return false
	})
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.output())
	}
	status.Wait(t, 20*time.Second, last("offline"))
}
