package modbus

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/internal/testenv"
)

// golden is one line of testdata/decode.txt.
type golden struct {
	line  int
	typ   string
	order string
	bit   *int
	scale float64
	off   float64
	regs  []uint16
	want  float64
}

func loadGolden(t *testing.T) []golden {
	t.Helper()
	f, err := os.Open("testdata/decode.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []golden
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		lhs, rhs, ok := strings.Cut(line, "=")
		fs := strings.Fields(lhs)
		if !ok || len(fs) < 6 {
			t.Fatalf("decode.txt:%d: malformed", n)
		}
		g := golden{line: n, typ: fs[0], order: fs[1]}
		if fs[2] != "-" {
			b, _ := strconv.Atoi(fs[2])
			g.bit = &b
		}
		g.scale, _ = strconv.ParseFloat(fs[3], 64)
		g.off, _ = strconv.ParseFloat(fs[4], 64)
		for _, h := range fs[5:] {
			v, err := strconv.ParseUint(h, 16, 16)
			if err != nil {
				t.Fatalf("decode.txt:%d: %v", n, err)
			}
			g.regs = append(g.regs, uint16(v))
		}
		g.want, err = strconv.ParseFloat(strings.TrimSpace(rhs), 64)
		if err != nil {
			t.Fatalf("decode.txt:%d: %v", n, err)
		}
		out = append(out, g)
	}
	return out
}

func (g golden) point(id string, addr int) configs.Point {
	sc := g.scale
	return configs.Point{ID: id, Register: "holding", Address: &addr, Type: g.typ, Order: g.order, Bit: g.bit, Scale: &sc, Offset: g.off}
}

// dev builds a modbus device config.
func dev(id, transport, addr string, unit int, interval, timeout time.Duration, points ...configs.Point) configs.Device {
	gap := 10
	return configs.Device{ID: id, Driver: "modbus", Transport: transport, Address: addr, Unit: &unit,
		Interval: configs.Duration(interval), Timeout: configs.Duration(timeout), CommAfter: 2, Gap: &gap, Points: points}
}

func pt(id, reg string, addr int, typ string) configs.Point {
	return configs.Point{ID: id, Register: reg, Address: &addr, Type: typ}
}

// collector is a Sink that keeps every sample for the test to wait on.
type collector struct {
	mu      sync.Mutex
	samples []drivers.Sample
	more    chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{})} }

func (c *collector) sink(b []drivers.Sample) {
	c.mu.Lock()
	c.samples = append(c.samples, b...)
	close(c.more)
	c.more = make(chan struct{})
	c.mu.Unlock()
}

// all returns a copy of the samples of point id (every point when id is "").
func (c *collector) all(id drivers.PointID) []drivers.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []drivers.Sample
	for _, s := range c.samples {
		if id == "" || s.Point == id {
			out = append(out, s)
		}
	}
	return out
}

// wait returns the first sample from index `from` on (in arrival order)
// that satisfies ok, failing the test after d.
func (c *collector) wait(t *testing.T, d time.Duration, what string, ok func(drivers.Sample) bool) drivers.Sample {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.samples); seen++ {
			if ok(c.samples[seen]) {
				s := c.samples[seen]
				c.mu.Unlock()
				return s
			}
		}
		more := c.more
		c.mu.Unlock()
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("no sample %s within %v", what, d)
		}
	}
}

// mark returns the current sample count, for waits on what comes after.
func (c *collector) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.samples)
}

// waitAfter is wait restricted to samples after a mark.
func (c *collector) waitAfter(t *testing.T, mark int, d time.Duration, what string, ok func(drivers.Sample) bool) drivers.Sample {
	t.Helper()
	i := 0
	return c.wait(t, d, what, func(s drivers.Sample) bool {
		i++
		return i > mark && ok(s)
	})
}

func is(id string, q drivers.Quality, cause drivers.Cause) func(drivers.Sample) bool {
	return func(s drivers.Sample) bool {
		return s.Point == drivers.PointID(id) && s.Quality == q && s.Cause == cause
	}
}

func value(id string, v float64) func(drivers.Sample) bool {
	return func(s drivers.Sample) bool {
		return s.Point == drivers.PointID(id) && s.Quality == drivers.Good && s.Value == v
	}
}

// start builds the driver for devs and runs it until the test ends.
func start(t *testing.T, opts Options, devs ...configs.Device) (*Driver, *collector) {
	t.Helper()
	drv, err := New(&configs.Config{Devices: devs}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- drv.Run(ctx, c.sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return drv, c
}

func testLog() (*slog.Logger, *testenv.Buffer) {
	b := &testenv.Buffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

var _ = fmt.Sprint
