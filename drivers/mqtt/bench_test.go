package mqtt_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/mqtt"
)

// benchPayload is what the simulated detectors send.
func benchPayload(i int) []byte {
	return fmt.Appendf(nil, `{"v": %d.5, "ts": 1795852800000, "unit": "ppm"}`, i%64)
}

// runBenchPublisher is the child process of BenchmarkIngest: it publishes
// (QoS 0) as many messages as each line of stdin grants, round-robin over
// bench/0..TOPICS-1, until stdin closes.
func runBenchPublisher() {
	topics, _ := strconv.Atoi(os.Getenv("MQTT_BENCH_TOPICS"))
	o := paho.NewClientOptions().AddBroker(os.Getenv("MQTT_BENCH_PUB")).SetClientID("bench-pub")
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		fmt.Fprintln(os.Stderr, "bench publisher: connect:", tok.Error())
		os.Exit(1)
	}
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("bench/%d", i)
	}
	payloads := make([][]byte, 64)
	for i := range payloads {
		payloads[i] = benchPayload(i)
	}
	in := bufio.NewScanner(os.Stdin)
	i := 0
	for in.Scan() {
		n, _ := strconv.Atoi(in.Text())
		for range n {
			c.Publish(names[i%topics], 0, false, payloads[i%64])
			i++
		}
	}
	c.Disconnect(250)
}

// BenchmarkIngest measures messages/s from the broker into the sink, on one
// topic and spread over 1,000 topics. The publisher is a child process
// (this test binary re-executed), granted messages in a closed loop (at
// most 4096 in flight end to end, so nothing is dropped). cpu-ns/msg is
// this process's CPU (getrusage, children excluded) per message: with
// Mosquitto that is the gateway side alone (paho client, queue, decode,
// Runner, sink); with mochi it adds the in-process broker.
func BenchmarkIngest(b *testing.B) {
	for _, bk := range brokers {
		for _, topics := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/topics=%d", bk.Name, topics), func(b *testing.B) {
				br := bk.Start(b)
				var pts []configs.Point
				for i := range topics {
					pts = append(pts, configs.Point{ID: fmt.Sprintf("P%d", i), Topic: fmt.Sprintf("bench/%d", i),
						Path: "v", TimePath: "ts", Range: []float64{0, 100}})
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
				more := make(chan struct{}, 1)
				ctx, cancel := contextWithCancel()
				done := make(chan struct{})
				go func() { _ = c.Run(ctx); close(done) }()
				for _, r := range c.Runners(func(s []drivers.Sample) {
					received.Add(int64(len(s)))
					select {
					case more <- struct{}{}:
					default:
					}
				}, nil) {
					go r.Run(ctx)
				}
				waitHealthy(b, c)

				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "MQTT_BENCH_PUB="+br.URL, "MQTT_BENCH_TOPICS="+strconv.Itoa(topics))
				cmd.Stderr = os.Stderr
				stdin, err := cmd.StdinPipe()
				if err != nil {
					b.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() { stdin.Close(); _ = cmd.Wait() }()

				cpu0 := cpuTime()
				start := time.Now()
				b.ResetTimer()
				granted := 0
				deadline := time.After(120 * time.Second)
				for received.Load() < int64(b.N) {
					if granted < b.N && int64(granted)-received.Load() < 4096 {
						n := min(1024, b.N-granted)
						if _, err := io.WriteString(stdin, strconv.Itoa(n)+"\n"); err != nil {
							b.Fatal(err)
						}
						granted += n
						continue
					}
					select {
					case <-more:
					case <-deadline:
						b.Fatalf("only %d of %d samples arrived", received.Load(), b.N)
					}
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
