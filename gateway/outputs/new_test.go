package outputs_test

import (
	"strings"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers/mqtt"
	"hazardgw/gateway/outputs"
)

// TestNewRejects: New reports every problem it can see without I/O, naming
// the thing.
func TestNewRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(*configs.Config)
		opts outputs.Options
		want string
	}{
		{"uplink without journal", func(c *configs.Config) { c.Uplink = &configs.Uplink{Broker: "plant", Prefix: "p"} },
			outputs.Options{}, "Options.Events"},
		{"notify qos 2", func(c *configs.Config) {
			c.Notify = []configs.Notify{{Name: "n", Kind: "mqtt", Broker: "plant", Topic: "x", QoS: 2}}
		}, outputs.Options{Events: &journal{}}, "notify n: qos 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(t, "tcp://127.0.0.1:1883")
			c.edit(cfg)
			cfg.SetDefaults()
			conns, err := mqtt.New(cfg, mqtt.Options{Wills: outputs.Wills(cfg, time.Now())})
			if err != nil {
				t.Fatalf("mqtt.New: %v", err)
			}
			_, err = outputs.New(cfg, conns, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
