package console

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"hazardgw/alarms"
	"hazardgw/console/consoletest"
	"hazardgw/drivers"

	"github.com/gorilla/websocket"
)

// BenchmarkFanout measures sample→client and alarm→client latency through
// the whole console (engine output queue, hub, per-client queue, writer,
// loopback TCP, websocket framing) with 100 connected clients. One
// iteration is one 10 ms tick of 100 samples (10,000 samples/s); every
// fifth tick also carries an alarm event (20/s). Each sample and event
// carries its send time in its value, so a client reads its latency from
// the first value of each frame (the oldest sample of a samples frame).
// With stalled=1 one more client connects and never reads. The last two
// cases are context: 10 clients, and 100 clients with alarms only.
//
//	go test -run '^$' -bench Fanout -benchtime 300x ./console
func BenchmarkFanout(b *testing.B) {
	for _, c := range []struct{ clients, stalled, perTick int }{
		{100, 0, 100}, {100, 1, 100}, {10, 0, 100}, {100, 0, 0},
	} {
		b.Run(fmt.Sprintf("clients=%d/stalled=%d/samples_per_s=%d", c.clients, c.stalled, c.perTick*100),
			func(b *testing.B) { benchFanout(b, c.clients, c.stalled, c.perTick) })
	}
}

type latencies struct {
	samples, alarms []time.Duration
}

func benchFanout(b *testing.B, clients, stalled, perTick int) {
	e := start(b, testConfig(false), Deps{}, Options{})
	var wg sync.WaitGroup
	lats := make([]latencies, clients)
	conns := make([]*websocket.Conn, 0, clients+stalled)
	for i := range clients + stalled {
		conn, _, err := websocket.DefaultDialer.Dial(e.wsURL(""), nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, conn)
		if i >= clients {
			continue // stalled: never reads
		}
		wg.Add(1)
		go func(l *latencies) {
			defer wg.Done()
			for {
				_, m, err := conn.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				v, ok := consoletest.FirstValue(m)
				if !ok {
					continue
				}
				d := time.Duration(now - int64(v))
				switch {
				case bytes.HasPrefix(m, []byte(`{"type":"samples"`)):
					l.samples = append(l.samples, d)
				case bytes.HasPrefix(m, []byte(`{"type":"alarm"`)):
					l.alarms = append(l.alarms, d)
				}
			}
		}(&lats[i])
	}
	// Wait for every client to be registered.
	for {
		var n int
		_ = e.srv.hub.call(b.Context(), func() { n = len(e.srv.hub.clients) })
		if n == clients+stalled {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	batch := make([]drivers.Sample, perTick)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		now := time.Now()
		for k := range batch {
			batch[k] = drivers.Sample{Point: "NH3-101", Value: float64(now.UnixNano()), Time: now}
		}
		if perTick > 0 {
			e.eng.samples(slices.Clone(batch))
		}
		if i%5 == 0 {
			e.eng.raise("NH3-101:hi", alarms.Medium, float64(time.Now().UnixNano()))
		}
	}
	b.StopTimer()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	// Let the last frames arrive, then close.
	time.Sleep(200 * time.Millisecond) // drain time for the benchmark's readers, not a test wait
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	var all latencies
	for _, l := range lats {
		all.samples = append(all.samples, l.samples...)
		all.alarms = append(all.alarms, l.alarms...)
	}
	report := func(name string, ds []time.Duration) {
		if len(ds) == 0 {
			return
		}
		slices.Sort(ds)
		p := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
		b.ReportMetric(p(0.50), name+"_p50_ms")
		b.ReportMetric(p(0.99), name+"_p99_ms")
	}
	report("sample", all.samples)
	report("alarm", all.alarms)
	b.ReportMetric(float64(ms1.HeapInuse)/(1<<20), "heap_MiB")
	b.ReportMetric(float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/(1<<20), "heap_growth_MiB")
}
