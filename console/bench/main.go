// Command bench measures the console's websocket fan-out with the clients
// in another process than the console, so that the clients' reading and
// parsing do not compete with the server inside one Go runtime (the
// in-process BenchmarkFanout in console/bench_test.go does).
//
// Two modes, run as two processes with one core each:
//
//	GOMAXPROCS=1 go run ./console/bench server -addr 127.0.0.1:18080 -clients 101 -for 25s
//	GOMAXPROCS=1 go run ./console/bench clients -url ws://127.0.0.1:18080/ws -n 100 -stalled 1
//
// server starts a console.Server on loopback fed by alarmstest.Fake (the
// real alarm Machine behind an in-memory journal). Once
// -clients websockets are connected it feeds, from one goroutine locked to
// its OS thread, 100 samples every 10 ms (10,000 samples/s) and one alarm
// event every 50 ms (20/s). Every sample's and every event's value is its
// send time in Unix nanoseconds (taken just before it is handed to the
// console). After -for it prints its own CPU use (getrusage over the
// feeding window), its RSS, and the console's counters, then shuts the
// console down (every client gets close 1001).
//
// clients connects -n gorilla websocket clients that read every frame, plus
// -stalled clients that never read. A reader takes the receipt time when a
// whole frame has been read and the latency from the first "value" of the
// frame: for an alarm frame the event's send time, for a samples frame the
// send time of its oldest sample (which includes the console's 50 ms
// batching by design). Frames received in the first -skip after the first
// data frame are not counted (connection warm-up). When the server closes
// the connections it prints p50/p99/max of both, the frame counts and its
// own CPU use.
//
// Against a running gateway (scripts/bench-gateway, ALARMS=K) the start
// time is not a value: -from time takes it from the alarm event's `time`
// (the acquisition time of the sample that changed the alarm, SPEC section
// 6; for a samples frame the `time` of its first sample), -from emitted
// from the event's `emitted` (when the engine produced it). -raw FILE
// writes one line per counted alarm frame, "client recv_unix_ns latency_ns
// seq", so a script can cut the figures into time windows; SIGINT or
// SIGTERM closes the connections and prints the figures as a server close
// does:
//
//	go run ./console/bench clients -url ws://127.0.0.1:18080/ws -n 1 -skip 0 -from time -raw alarms.raw
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hazardgw/alarms/alarmstest"
	"hazardgw/configs"
	"hazardgw/console"
	"hazardgw/console/consoletest"
	"hazardgw/drivers"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench server|clients [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "clients":
		err = clients(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q (server or clients)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runqueueWait is how long the process's threads have been runnable but
// waiting for a CPU (the second field of /proc/self/task/*/schedstat):
// time the kernel gave to other processes.
func runqueueWait() time.Duration {
	tasks, _ := os.ReadDir("/proc/self/task")
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += n
		}
	}
	return time.Duration(sum)
}

// procStatus returns VmRSS and VmHWM from /proc/self/status, in MiB.
func procStatus() (rss, hwm float64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// ---- server ----

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18080", "listen address")
	want := fs.Int("clients", 100, "start feeding once this many websockets are connected")
	dur := fs.Duration("for", 25*time.Second, "how long to feed")
	perTick := fs.Int("samples", 100, "samples per 10 ms tick")
	alarmEvery := fs.Int("alarm-every", 5, "one alarm event every this many ticks (0: none)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the feeding window to this file")
	traceFile := fs.String("trace", "", "write a runtime trace of the first 3 s of the feeding window to this file")
	_ = fs.Parse(args)

	const point = "NH3-101"
	hi := 30.0
	cfg := &configs.Config{
		Site:    configs.Site{ID: "BENCH", Name: "Console fan-out bench"},
		Console: configs.Console{Listen: *addr, MaxShelve: configs.Duration(time.Hour)},
		Devices: []configs.Device{{ID: "GC-ROOM1", Area: "Machine room", Points: []configs.Point{
			{ID: point, Name: "Compressor room NH3", Unit: "ppm", Hi: &hi},
		}}},
	}
	cfg.SetDefaults() // as a decoded config has them (escalation.min_priority, ...)
	eng, err := alarmstest.NewFake(cfg, alarmstest.Options{Now: time.Now})
	if err != nil {
		return err
	}
	eng.Log().Keep(4096)
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := console.New(cfg, console.Deps{Engine: eng, Registry: reg, Log: log}, console.Options{})
	if err != nil {
		return err
	}
	eng.Subscribe(srv)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	fmt.Printf("server: listening on %s, GOMAXPROCS=%d, waiting for %d clients\n", ln.Addr(), runtime.GOMAXPROCS(0), *want)

	// Wait for the clients (polling the console's own gauge).
	for metric(reg, "hazardgw_console_clients", "") < float64(*want) {
		select {
		case <-ctx.Done():
			stop()
			return <-served
		case <-time.After(50 * time.Millisecond): // polling a gauge, once
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			stop()
			<-served
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			stop()
			<-served
			return err
		}
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		time.AfterFunc(3*time.Second, trace.Stop)
	}
	fmt.Printf("server: %d clients connected, feeding %d samples/s and %.0f alarms/s for %s\n",
		*want, *perTick*100, alarmRate(*alarmEvery), *dur)

	cpu0, wait0, t0 := cpuTime(), runqueueWait(), time.Now()
	var sent struct{ ticks, samples, alarms int }
	var gaps []time.Duration // between consecutive ticks the feeder saw: the process's own scheduling delay
	fed := make(chan struct{})
	go func() { // the feeder: one goroutine on its own OS thread
		defer close(fed)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		end := time.After(*dur)
		last := time.Now()
		for i := 0; ; i++ {
			select {
			case <-tick.C:
				now := time.Now()
				gaps = append(gaps, now.Sub(last))
				last = now
			case <-end:
				return
			case <-ctx.Done():
				return
			}
			if *perTick > 0 {
				batch := make([]drivers.Sample, *perTick) // the console keeps the batch
				now := time.Now()
				for k := range batch {
					batch[k] = drivers.Sample{Point: point, Value: float64(now.UnixNano()), Time: now}
				}
				srv.Samples(batch)
				sent.samples += len(batch)
			}
			if *alarmEvery > 0 && i%*alarmEvery == 0 {
				now := time.Now()
				if _, err := eng.Raise(point+":hi", 0, float64(now.UnixNano())); err != nil {
					panic(err)
				}
				sent.alarms++
			}
			sent.ticks++
		}
	}()
	<-fed
	wall, cpu, wait := time.Since(t0), cpuTime()-cpu0, runqueueWait()-wait0
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	rss, hwm := procStatus()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("server: fed %s: %d ticks, %d samples (%.0f/s), %d alarm events\n",
		wall.Round(time.Millisecond), sent.ticks, sent.samples, float64(sent.samples)/wall.Seconds(), sent.alarms)
	fmt.Println("server: feeder", stats("tick gap", gaps), fmt.Sprintf("(10 ms when on time; %d ticks > 15 ms)", countOver(gaps, 15*time.Millisecond)))
	fmt.Printf("server: runnable but waiting for a CPU (schedstat, all threads) %.2f s over the run\n", wait.Seconds())
	fmt.Printf("server: CPU %.2f s user+sys over %.1f s = %.1f %% of one core; RSS %.1f MiB, peak RSS %.1f MiB, Go heap in use %.1f MiB, GCs %d\n",
		cpu.Seconds(), wall.Seconds(), 100*cpu.Seconds()/wall.Seconds(), rss, hwm, float64(ms.HeapInuse)/(1<<20), ms.NumGC)
	fmt.Printf("server: clients now %.0f, alarm frames queued %.0f, samples frames dropped for slow clients %.0f, samples dropped before the hub %.0f, slow clients disconnected %.0f\n",
		metric(reg, "hazardgw_console_clients", ""), metric(reg, "hazardgw_console_alarm_frames_total", ""),
		metric(reg, "hazardgw_console_samples_dropped_total", "client"), metric(reg, "hazardgw_console_samples_dropped_total", "hub"),
		metric(reg, "hazardgw_console_rejects_total", "slow"))
	stop()
	return <-served
}

func countOver(ds []time.Duration, d time.Duration) int {
	n := 0
	for _, x := range ds {
		if x > d {
			n++
		}
	}
	return n
}

func alarmRate(every int) float64 {
	if every <= 0 {
		return 0
	}
	return 100 / float64(every)
}

// metric reads one gauge or counter from reg; label is the value of its
// only label ("" for none). Missing: 0.
func metric(reg *prometheus.Registry, name, label string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}

// ---- clients ----

type result struct {
	alarms, samples []time.Duration
	alarmFrames     int // counted ones (after -skip)
	bytes, frames   int // every frame's payload (after -skip)
	closeErr        error
}

func clients(args []string) error {
	fs := flag.NewFlagSet("clients", flag.ExitOnError)
	url := fs.String("url", "ws://127.0.0.1:18080/ws", "console websocket URL")
	n := fs.Int("n", 100, "reading clients")
	stalled := fs.Int("stalled", 0, "clients that connect and never read")
	skip := fs.Duration("skip", 2*time.Second, "frames received this long after the first data frame are not counted")
	from := fs.String("from", "value", "a frame's start time: value (the first value, Unix ns: the bench server), time (the event's or first sample's acquisition time), emitted (the event's emitted time)")
	rawFile := fs.String("raw", "", "write one line per counted alarm frame to this file: client recv_unix_ns latency_ns seq")
	_ = fs.Parse(args)
	start, err := startOf(*from)
	if err != nil {
		return err
	}
	var raw *rawLog
	if *rawFile != "" {
		f, err := os.Create(*rawFile)
		if err != nil {
			return err
		}
		raw = &rawLog{w: bufio.NewWriter(f)}
		defer func() {
			raw.mu.Lock()
			_ = raw.w.Flush()
			raw.mu.Unlock()
			_ = f.Close()
		}()
	}

	var stalledConns []*websocket.Conn
	conns := make([]*websocket.Conn, 0, *n)
	for range *n {
		c, _, err := websocket.DefaultDialer.Dial(*url, nil)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	for range *stalled {
		c, _, err := websocket.DefaultDialer.Dial(*url, nil)
		if err != nil {
			return err
		}
		stalledConns = append(stalledConns, c) // never read
	}
	fmt.Printf("clients: %d reading + %d stalled connected to %s, GOMAXPROCS=%d\n", *n, *stalled, *url, runtime.GOMAXPROCS(0))

	// SIGINT or SIGTERM ends the run as a server close does: the readers
	// see their connection closed and the figures are printed.
	var interrupted atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sig:
		case <-done:
			return
		}
		interrupted.Store(true)
		for _, c := range conns {
			_ = c.Close()
		}
	}()

	var (
		firstOnce sync.Once
		first     = make(chan struct{})
		countFrom time.Time // set once, before first is closed
	)
	cpu0, wait0 := cpuTime(), runqueueWait()
	var t0 time.Time
	results := make([]result, *n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(id int, r *result) {
			defer wg.Done()
			var buf bytes.Buffer
			buf.Grow(128 << 10)
			for {
				_, rd, err := c.NextReader()
				if err != nil {
					r.closeErr = err
					if interrupted.Load() {
						r.closeErr = errInterrupted
					}
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(rd); err != nil {
					r.closeErr = err
					return
				}
				now := time.Now()
				m := buf.Bytes()
				alarm := bytes.HasPrefix(m, []byte(`{"type":"alarm"`))
				if !alarm && !bytes.HasPrefix(m, []byte(`{"type":"samples"`)) {
					continue // hello, snapshot
				}
				firstOnce.Do(func() { countFrom = now.Add(*skip); t0 = now; close(first) })
				<-first
				if now.Before(countFrom) {
					continue
				}
				r.bytes += len(m)
				r.frames++
				t, seq, ok := start(m, alarm)
				if !ok {
					continue
				}
				d := time.Duration(now.UnixNano() - t)
				if alarm {
					r.alarms = append(r.alarms, d)
					r.alarmFrames++
					raw.add(id, now, d, seq)
				} else {
					r.samples = append(r.samples, d)
				}
			}
		}(i, &results[i])
	}
	wg.Wait()
	wall, cpu, wait := time.Since(t0), cpuTime()-cpu0, runqueueWait()-wait0
	for _, c := range append(conns, stalledConns...) {
		_ = c.Close()
	}
	var all result
	minA, maxA := -1, 0
	closes := map[string]int{}
	for _, r := range results {
		all.alarms = append(all.alarms, r.alarms...)
		all.samples = append(all.samples, r.samples...)
		all.bytes += r.bytes
		all.frames += r.frames
		if minA < 0 || r.alarmFrames < minA {
			minA = r.alarmFrames
		}
		maxA = max(maxA, r.alarmFrames)
		var ce *websocket.CloseError
		if errors.As(r.closeErr, &ce) {
			closes[strconv.Itoa(ce.Code)]++
		} else if errors.Is(r.closeErr, errInterrupted) {
			closes["interrupted"]++
		} else if r.closeErr != nil && !errors.Is(r.closeErr, io.EOF) {
			closes[r.closeErr.Error()]++
		}
	}
	fmt.Printf("clients: measured %.1f s (after a %s warm-up); clients' CPU %.1f %% of one core, runnable but waiting for a CPU %.2f s; connections closed with %v\n",
		(wall - *skip).Seconds(), *skip, 100*cpu.Seconds()/wall.Seconds(), wait.Seconds(), closes)
	fmt.Printf("clients: alarm frames per client %d..%d; received %.1f MB/s of frame payload, %.0f frames/s, %.0f B per frame\n",
		minA, maxA, float64(all.bytes)/(wall-*skip).Seconds()/1e6, float64(all.frames)/(wall-*skip).Seconds(),
		float64(all.bytes)/float64(max(all.frames, 1)))
	fmt.Println(stats("alarm  ", all.alarms))
	fmt.Println(stats("samples", all.samples))
	return nil
}

// errInterrupted is a reader's end when SIGINT or SIGTERM closed its
// connection.
var errInterrupted = errors.New("interrupted")

// startFunc returns the start time of a data frame (Unix ns) and, for an
// alarm frame, the event's seq; ok false when the frame has none.
type startFunc func(frame []byte, alarm bool) (t int64, seq int64, ok bool)

// startOf is the start time named by -from.
func startOf(from string) (startFunc, error) {
	switch from {
	case "value":
		return func(m []byte, _ bool) (int64, int64, bool) {
			v, ok := consoletest.FirstValue(m)
			return int64(v), 0, ok
		}, nil
	case "time", "emitted":
		emitted := from == "emitted"
		return func(m []byte, alarm bool) (int64, int64, bool) {
			if !alarm {
				return firstTime(m)
			}
			var f struct {
				Alarm struct {
					Seq           int64
					Time, Emitted string
				}
			}
			if json.Unmarshal(m, &f) != nil {
				return 0, 0, false
			}
			s := f.Alarm.Time
			if emitted {
				s = f.Alarm.Emitted
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return 0, 0, false
			}
			return t.UnixNano(), f.Alarm.Seq, true
		}, nil
	}
	return nil, fmt.Errorf("-from %q: want value, time or emitted", from)
}

// firstTime is the first "time" of a samples frame (its first sample's
// acquisition time), without decoding the whole frame.
func firstTime(m []byte) (int64, int64, bool) {
	const key = `"time":"`
	i := bytes.Index(m, []byte(key))
	if i < 0 {
		return 0, 0, false
	}
	m = m[i+len(key):]
	j := bytes.IndexByte(m, '"')
	if j < 0 {
		return 0, 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(m[:j]))
	if err != nil {
		return 0, 0, false
	}
	return t.UnixNano(), 0, true
}

// rawLog is -raw's file: one line per counted alarm frame, from every
// reader. A nil *rawLog writes nothing.
type rawLog struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *rawLog) add(client int, recv time.Time, d time.Duration, seq int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	fmt.Fprintf(l.w, "%d %d %d %d\n", client, recv.UnixNano(), int64(d), seq)
	l.mu.Unlock()
}

func stats(name string, ds []time.Duration) string {
	if len(ds) == 0 {
		return name + ": no frames"
	}
	slices.Sort(ds)
	p := func(q float64) string {
		return fmt.Sprintf("%.2f ms", float64(ds[int(q*float64(len(ds)-1))])/1e6)
	}
	return fmt.Sprintf("%s: n=%d  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", name, len(ds), p(0.5), p(0.9), p(0.99), p(0.999), p(1))
}
