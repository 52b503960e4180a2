package sim

import (
	"strconv"
	"testing"
	"time"

	"hazardgw/internal/testenv"
)

// BenchmarkModbusRead is one FC03 round trip of 22 registers (every type
// and order of testdata/modbus.toml) through a goburrow client on loopback.
func BenchmarkModbusRead(b *testing.B) {
	port := testenv.FreePort(b)
	cfg := loadConfig(b, "testdata/modbus.toml", port)
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	stop := runForBench(b, p)
	defer stop()
	c, _ := client(b, "127.0.0.1:"+strconv.Itoa(port), 1, 2*time.Second)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.ReadHoldingRegisters(0, 22); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValue is the value of one leak point with noise and a fault
// window: what every register read and publish computes per point.
func BenchmarkValue(b *testing.B) {
	cfg := loadConfig(b, "testdata/modbus.toml", 1)
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if _, err := p.Value("NH3-101", now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishMessages builds one tick of MQTT messages (3 topics, 4
// points, one JSON object with a nested path and a time).
func BenchmarkPublishMessages(b *testing.B) {
	cfg := loadConfig(b, "testdata/mqtt.toml", 1)
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for b.Loop() {
		if m := p.pubs[0].messages(now); len(m) != 3 {
			b.Fatalf("%d messages", len(m))
		}
	}
}
