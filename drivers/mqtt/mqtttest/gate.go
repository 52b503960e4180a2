package mqtttest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/drivers"
)

// Kinds are the brokers every behaviour is tested against, by name.
var Kinds = []struct {
	Name  string
	Start func(testing.TB) *Broker
}{
	{"mochi", StartMochi},
	{"mosquitto", StartMosquitto},
}

// Gate is a TCP proxy in front of a broker. While closed it refuses new
// connections; Kill cuts the current ones without an MQTT DISCONNECT (the
// broker then sends the client's will).
type Gate struct {
	l     net.Listener
	open  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

// NewGate starts an open gate to target (host:port); t.Cleanup closes it.
func NewGate(t testing.TB, target string) *Gate {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{l: l}
	g.open.Store(true)
	t.Cleanup(func() { l.Close(); g.Kill() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !g.open.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { io.Copy(up, c); up.Close(); c.Close() }()
			go func() { io.Copy(c, up); up.Close(); c.Close() }()
		}
	}()
	return g
}

// URL is what a paho client dials to pass the gate.
func (g *Gate) URL() string { return "tcp://" + g.l.Addr().String() }

// SetOpen opens or closes the gate to new connections.
func (g *Gate) SetOpen(open bool) { g.open.Store(open) }

// Kill cuts every connection through the gate.
func (g *Gate) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// WaitFor polls cond every 10ms for up to 20s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// WaitUp waits until every connection health reports is up (for
// mqtt.Conns.Health).
func WaitUp(t testing.TB, health func() []drivers.Health) {
	t.Helper()
	WaitFor(t, "broker connections up", func() bool {
		for _, h := range health() {
			if h.State != "up" {
				return false
			}
		}
		return true
	})
}

// Gathered sums the counters and gauges of a metric family whose label
// has value.
func Gathered(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return v
}
