package mqtt_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
	"hazardgw/drivers/mqtt/mqtttest"
)

// BenchmarkIngest measures messages/s from the broker into the sink
// (publisher -> mochi -> paho -> queue -> decode -> sink), one topic or
// spread over 1,000 topics. Reports msgs/s and CPU time per message.
func BenchmarkIngest(b *testing.B) {
	for _, bk := range brokers {
		for _, topics := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/topics=%d", bk.name, topics), func(b *testing.B) {
				br := bk.start(b)
				var pts []configs.Point
				for i := range topics {
					pts = append(pts, configs.Point{ID: fmt.Sprintf("P%d", i), Topic: fmt.Sprintf("bench/%d", i), Path: "v", Range: []float64{0, 100}})
				}
				cfg := &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: b.TempDir()},
					Brokers: []configs.Broker{{Name: "plant", URL: br.URL}},
					Devices: []configs.Device{{ID: "D", Driver: "mqtt", Broker: "plant", QoS: 0, Points: pts}}}
				cfg.SetDefaults()
				c, err := mqtt.New(cfg, mqtt.Options{Queue: 1 << 16})
				if err != nil {
					b.Fatal(err)
				}
				var received atomic.Int64
				arrived := make(chan struct{}, 1)
				ctx, cancel := contextWithCancel()
				done := make(chan struct{})
				go func() { _ = c.Run(ctx); close(done) }()
				for _, r := range c.Runners(func(s []drivers.Sample) {
					if received.Add(int64(len(s))) >= int64(b.N) {
						select {
						case arrived <- struct{}{}:
						default:
						}
					}
				}, nil) {
					go r.Run(ctx)
				}
				waitHealthy(b, c)
				pub := br.Publisher(b)
				payloads := make([][]byte, 64)
				for i := range payloads {
					payloads[i] = fmt.Appendf(nil, `{"v": %d.5, "ts": 1795852800000, "unit": "ppm"}`, i)
				}
				names := make([]string, topics)
				for i := range names {
					names[i] = fmt.Sprintf("bench/%d", i)
				}
				cpu0 := cpuTime()
				start := time.Now()
				b.ResetTimer()
				go func() {
					// Closed loop: at most 4096 messages in flight end to end, so
					// the figure is the sustained rate with nothing dropped.
					for i := 0; i < b.N; i++ {
						for int64(i)-received.Load() > 4096 {
							time.Sleep(50 * time.Microsecond)
						}
						pub.Publish(names[i%topics], 0, false, payloads[i%len(payloads)])
					}
				}()
				select {
				case <-arrived:
				case <-time.After(120 * time.Second):
					b.Fatalf("only %d of %d samples arrived", received.Load(), b.N)
				}
				el := time.Since(start)
				b.StopTimer()
				n := received.Load()
				b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/msg")
				cancel()
				<-done
			})
		}
	}
}

// BenchmarkUplinkEvents measures alarm events/s through the uplink
// (journal -> publish QoS 1 -> PUBACK -> cursor) to a subscriber.
func BenchmarkUplinkEvents(b *testing.B) {
	br := mqtttest.StartMochi(b)
	rx := br.Subscribe(b, "hz/S1/alarms", 1)
	j := &journal{}
	cfg := &configs.Config{Site: configs.Site{ID: "S1"}, Store: configs.Store{Dir: b.TempDir()},
		Brokers: []configs.Broker{{Name: "plant", URL: br.URL}},
		Uplink:  &configs.Uplink{Broker: "plant", Prefix: "hz/S1"}}
	cfg.SetDefaults()
	c, err := mqtt.New(cfg, mqtt.Options{Events: j})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	waitHealthy(b, c)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		c.Uplink().Event(j.add())
	}
	rx.WaitN(b, b.N, 120*time.Second)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	cancel()
	<-done
}
