package mqtt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hazardgw/configs"
)

// BenchmarkSubscriberDecode is the gateway's own share per message, without
// the network: paho's handler (enqueue) then Read (dispatch by topic,
// JSON decode with path and time_path, range check).
func BenchmarkSubscriberDecode(b *testing.B) {
	for _, topics := range []int{1, 1000} {
		b.Run(fmt.Sprintf("topics=%d", topics), func(b *testing.B) {
			m, _ := newMetrics(nil)
			c := &Conn{name: "b", upCh: make(chan struct{}), downCh: make(chan struct{})}
			c.up = true
			s := newSubscriber(c, 1<<16, time.Now, m, discardLog())
			names := make([]string, topics)
			for i := range topics {
				names[i] = fmt.Sprintf("bench/%d", i)
				p, err := compilePoint(&configs.Device{ID: "D"}, &configs.Point{ID: fmt.Sprintf("P%d", i), Topic: names[i],
					Path: "v", TimePath: "ts", Range: []float64{0, 100}})
				if err != nil {
					b.Fatal(err)
				}
				s.add(p, 0)
			}
			payload := []byte(`{"v": 42.5, "ts": 1795852800000, "unit": "ppm"}`)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				s.enqueue(names[i%topics], payload)
				if s.q.Len() >= 512 || i == b.N-1 {
					for s.q.Len() > 0 {
						out, err := s.Read(ctx)
						if err != nil {
							b.Fatal(err)
						}
						n += len(out)
					}
				}
			}
			if n != b.N {
				b.Fatalf("%d samples for %d messages", n, b.N)
			}
		})
	}
}
