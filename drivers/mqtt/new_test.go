package mqtt_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hazardgw/configs"
	"hazardgw/drivers/mqtt"
)

// TestNewRejects: New reports every problem it can see without I/O beyond
// reading TLS files, naming the thing.
func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*configs.Config)
		opts mqtt.Options
		want string
	}{
		{"unknown broker", func(c *configs.Config) {
			c.Devices = []configs.Device{{ID: "D", Driver: "mqtt", Broker: "nope", Points: []configs.Point{{ID: "P", Topic: "t"}}}}
		}, mqtt.Options{}, `unknown broker "nope"`},
		{"qos 2", func(c *configs.Config) {
			c.Devices = []configs.Device{mqttDevice(2, configs.Point{ID: "P", Topic: "t"})}
		},
			mqtt.Options{}, "qos 2"},
		{"wildcard without path", func(c *configs.Config) {
			c.Devices = []configs.Device{mqttDevice(0, configs.Point{ID: "P", Topic: "a/+"})}
		}, mqtt.Options{}, "needs a path"},
		{"point without topic", func(c *configs.Config) { c.Devices = []configs.Device{mqttDevice(0, configs.Point{ID: "P"})} },
			mqtt.Options{}, "no topic"},
		{"missing CA file", func(c *configs.Config) { c.Brokers[0].CA = filepath.Join(dir, "none.pem") }, mqtt.Options{}, "ca:"},
		{"CA without certificate", func(c *configs.Config) { c.Brokers[0].CA = garbage }, mqtt.Options{}, "no PEM certificate"},
		{"cert without key", func(c *configs.Config) { c.Brokers[0].Cert = garbage }, mqtt.Options{}, "cert and key go together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := baseConfig(t, "tcp://127.0.0.1:1883")
			cfg.Devices = []configs.Device{mqttDevice(0, configs.Point{ID: "OK", Topic: "ok"})} // uses the broker
			c.edit(cfg)
			cfg.SetDefaults()
			_, err := mqtt.New(cfg, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
