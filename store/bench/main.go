// Command bench feeds a Store at a steady rate while InfluxDB is
// unreachable (a long outage) and prints the process RSS, Go heap and the
// outbox size every interval, to show memory stays flat while the backlog
// grows on disk.
//
//	go run ./store/bench -rate 10000 -points 1000 -for 10m -every 1m
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/store"
)

func main() {
	rate := flag.Int("rate", 10000, "samples per second")
	points := flag.Int("points", 1000, "points")
	dur := flag.Duration("for", 10*time.Minute, "how long")
	every := flag.Duration("every", time.Minute, "report interval")
	dir := flag.String("dir", "", "store dir (default: a temp dir, removed at the end)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "store-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	cfg := &configs.Config{Site: configs.Site{ID: "BENCH"}}
	cfg.Store.Dir = *dir
	cfg.Store.Outbox.MaxBytes = 1 << 30
	cfg.Store.InfluxDB = &configs.InfluxDB{URL: "http://127.0.0.1:1", Bucket: "db/autogen", Batch: 5000, Flush: configs.Duration(time.Second)}
	dev := configs.Device{ID: "DEV"}
	ids := make([]drivers.PointID, *points)
	for i := range ids {
		ids[i] = drivers.PointID(fmt.Sprintf("PT-%05d", i))
		dev.Points = append(dev.Points, configs.Point{ID: string(ids[i])})
	}
	cfg.Devices = []configs.Device{dev}
	s, err := store.New(cfg, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	start := time.Now()
	report := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h := s.Health()
		fmt.Printf("t=%-6s rss=%6.1fMiB heap_inuse=%6.1fMiB outbox=%7.1fMiB samples=%d influxdb=%s\n",
			time.Since(start).Round(time.Second), rssMiB(), float64(ms.HeapInuse)/(1<<20), float64(h.OutboxBytes)/(1<<20), h.OutboxSamples, h.InfluxDB)
	}
	report()
	// One batch per point group every 100 ms: rate/10 samples per tick.
	tick := time.NewTicker(100 * time.Millisecond)
	rep := time.NewTicker(*every)
	end := time.After(*dur)
	per := *rate / 10
	next := 0
loop:
	for {
		select {
		case now := <-tick.C:
			batch := make([]drivers.Sample, per)
			for i := range batch {
				batch[i] = drivers.Sample{Point: ids[next%len(ids)], Value: float64(next % 1000), Time: now}
				next++
			}
			s.Samples(batch)
		case <-rep.C:
			report()
		case <-end:
			break loop
		}
	}
	report()
	cancel()
	<-done
}

func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(sc.Text(), "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return -1
}
