// Command bench measures the modbus driver against a loopback farm of
// Modbus TCP slaves: gateway-side CPU (cores) and peak RSS.
//
//	go run ./drivers/modbus/bench -devices 1000 -points 50 -interval 1s -duration 30s
//
// The slaves (simonvetter/modbus servers from modbustest) run in a child
// process (this program with -serve), so the figures are the gateway's
// alone: CPU from getrusage(RUSAGE_SELF) over the measured window, peak RSS
// from VmHWM.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus"
	"hazardgw/drivers/modbus/modbustest"
)

func main() {
	devices := flag.Int("devices", 1000, "number of slaves (one TCP server each)")
	points := flag.Int("points", 50, "points per device (half uint16, half float32)")
	interval := flag.Duration("interval", time.Second, "poll interval")
	duration := flag.Duration("duration", 30*time.Second, "measured window (after a 5 s warm-up)")
	serve := flag.Int("serve", 0, "internal: run N servers and print their addresses")
	flag.Parse()
	if *serve > 0 {
		runServers(*serve)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	child := exec.Command(exe, "-serve", fmt.Sprint(*devices))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := child.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { child.Process.Signal(syscall.SIGTERM); child.Wait() }()
	sc := bufio.NewScanner(out)
	var addrs []string
	for len(addrs) < *devices && sc.Scan() {
		addrs = append(addrs, strings.TrimSpace(sc.Text()))
	}
	if len(addrs) < *devices {
		log.Fatalf("child started %d servers", len(addrs))
	}

	cfg := &configs.Config{}
	for i, a := range addrs {
		unit := 1
		gap := 10
		d := configs.Device{ID: fmt.Sprintf("D%04d", i), Driver: "modbus", Transport: "tcp", Address: a, Unit: &unit,
			Interval: configs.Duration(*interval), Timeout: configs.Duration(time.Second), CommAfter: 3, Gap: &gap}
		reg := 0
		for j := 0; j < *points; j++ {
			addr := reg
			p := configs.Point{ID: fmt.Sprintf("D%04d.P%02d", i, j), Register: "holding", Address: &addr, Type: "uint16", Range: []float64{0, 70000}}
			if j%2 == 1 {
				p.Type, p.Order = "float32", "CDAB"
				reg += 2
			} else {
				reg++
			}
			d.Points = append(d.Points, p)
		}
		cfg.Devices = append(cfg.Devices, d)
	}
	drv, err := modbus.New(cfg, modbus.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var samples, bad atomic.Int64
	sink := func(b []drivers.Sample) {
		samples.Add(int64(len(b)))
		for _, s := range b {
			if s.Quality != drivers.Good {
				bad.Add(1)
			}
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	done := make(chan struct{})
	go func() { drv.Run(ctx, sink); close(done) }()

	time.Sleep(5 * time.Second) // warm-up: connections made, first polls done
	u0, t0, s0, b0 := cpu(), time.Now(), samples.Load(), bad.Load()
	time.Sleep(*duration)
	u1, t1, s1, b1 := cpu(), time.Now(), samples.Load(), bad.Load()
	cancel()
	<-done
	wall := t1.Sub(t0)
	up := 0
	errs := map[string]int{}
	for _, h := range drv.Health() {
		if h.State == "up" {
			up++
		}
		if h.Err != "" {
			e := h.Err
			if i := strings.Index(e, ": "); i > 0 {
				e = e[i+2:]
			}
			errs[e]++
		}
	}
	for e, n := range errs {
		fmt.Printf("last error on %d devices: %s\n", n, e)
	}
	fmt.Printf("devices=%d points=%d interval=%v window=%v\n", *devices, *points, *interval, wall.Round(time.Millisecond))
	fmt.Printf("samples/s=%.0f (expected %.0f) bad_in_window=%d devices_up=%d\n",
		float64(s1-s0)/wall.Seconds(), float64(*devices**points)/interval.Seconds(), b1-b0, up)
	fmt.Printf("gateway_cpu_cores=%.4f peak_rss_mb=%.1f\n", (u1-u0).Seconds()/wall.Seconds(), float64(vmHWM())/1024)
}

// cpu is the process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the peak resident set in KiB.
func vmHWM() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")), &kb)
			return kb
		}
	}
	return 0
}

func runServers(n int) {
	var srvs []*modbustest.TCPServer
	for i := 0; i < n; i++ {
		s, err := modbustest.NewTCP("127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		u := s.Unit(1)
		for r := 0; r < 100; r++ {
			u.SetHolding(r, uint16(r*7))
		}
		srvs = append(srvs, s)
		fmt.Println(s.Addr())
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
	for _, s := range srvs {
		s.Stop()
	}
}
