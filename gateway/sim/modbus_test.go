package sim

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	"hazardgw/configs"
	"hazardgw/internal/testenv"
)

// clock is a settable clock for the plant.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

// loadConfig parses a testdata config with PORT replaced by port.
func loadConfig(t testing.TB, file string, port int) *configs.Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), "PORT", strconv.Itoa(port)))
	cfg, err := configs.Parse(file, data)
	if err != nil {
		t.Fatalf("config %s: %v", file, err)
	}
	return cfg
}

// startPlant runs a plant for cfg and waits until it listens.
func startPlant(t *testing.T, cfg *configs.Config, opts Options) *Plant {
	t.Helper()
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of cancel")
		}
	})
	select {
	case <-p.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("plant not ready within 10s")
	}
	return p
}

func client(t testing.TB, addr string, unit byte, timeout time.Duration) (modbus.Client, *modbus.TCPClientHandler) {
	t.Helper()
	h := modbus.NewTCPClientHandler(addr)
	h.SlaveId = unit
	h.Timeout = timeout
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h), h
}

// modbusPlant starts the plant of a testdata file whose Modbus slaves serve
// at addr, on the clock clk (at t0).
func modbusPlant(t *testing.T, file string) (p *Plant, addr string, clk *clock) {
	t.Helper()
	port := testenv.FreePort(t)
	clk = &clock{t: t0}
	p = startPlant(t, loadConfig(t, file, port), Options{Now: clk.Now})
	return p, "127.0.0.1:" + strconv.Itoa(port), clk
}

func TestModbusRoundTrip(t *testing.T) {
	_, addr, clk := modbusPlant(t, "testdata/modbus.toml")
	c, _ := client(t, addr, 1, 2*time.Second)

	read := func(fn func(uint16, uint16) ([]byte, error), a, n uint16) string {
		t.Helper()
		b, err := fn(a, n)
		if err != nil {
			t.Fatalf("read %d+%d: %v", a, n, err)
		}
		return hex.EncodeToString(b)
	}

	// Registers as golden bytes, per type and order (SPEC §3).
	tests := []struct {
		name string
		at   string // plant time
		fn   func(uint16, uint16) ([]byte, error)
		addr uint16
		n    uint16
		want string
	}{
		{"float32 ABCD", "0s", c.ReadHoldingRegisters, 0, 2, "3fc00000"},
		{"float32 CDAB", "0s", c.ReadHoldingRegisters, 2, 2, "00003fc0"},
		{"float32 BADC", "0s", c.ReadHoldingRegisters, 4, 2, "c03f0000"},
		{"float32 DCBA", "0s", c.ReadHoldingRegisters, 6, 2, "0000c03f"},
		{"uint32 CDAB", "0s", c.ReadHoldingRegisters, 8, 2, "03040102"},
		{"int16 scaled", "0s", c.ReadHoldingRegisters, 10, 1, "ff85"},
		{"uint16 scale and offset", "0s", c.ReadHoldingRegisters, 11, 1, "003c"},
		{"int64 CDAB", "0s", c.ReadHoldingRegisters, 12, 4, "0607040502030001"},
		{"float64 ABCD", "0s", c.ReadHoldingRegisters, 16, 4, "c004000000000000"},
		{"status bits, heartbeat low", "1s", c.ReadHoldingRegisters, 20, 1, "0008"},
		{"status bits, heartbeat high", "3s", c.ReadHoldingRegisters, 20, 1, "0808"},
		{"heartbeat frozen", "35s", c.ReadHoldingRegisters, 20, 1, "0808"},
		{"heartbeat frozen later", "37s", c.ReadHoldingRegisters, 20, 1, "0808"},
		{"unmapped registers read 0", "0s", c.ReadHoldingRegisters, 21, 3, "000000000000"},
		{"one read across points", "0s", c.ReadHoldingRegisters, 9, 3, "0102ff85003c"},
		{"leak base", "0s", c.ReadInputRegisters, 0, 2, "00050032"},
		{"leak rising", "20s", c.ReadInputRegisters, 0, 1, "002b"},      // 5 + 75/2 = 42.5 -> 43
		{"leak peak", "35s", c.ReadInputRegisters, 0, 1, "0050"},        // 80
		{"NAMUR faults", "61s", c.ReadInputRegisters, 0, 2, "0000ff83"}, // 0 mA: -25 clamps to 0 in uint16; 2 mA: -12.5 -> raw -125
		{"fire off", "44s", c.ReadDiscreteInputs, 4, 1, "00"},
		{"fire on", "45s", c.ReadDiscreteInputs, 0, 8, "10"},
		{"coil without behaviour is 0", "0s", c.ReadCoils, 0, 8, "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(t0.Add(ms(tt.at)))
			if got := read(tt.fn, tt.addr, tt.n); got != tt.want {
				t.Errorf("registers %d+%d at %s = %s, want %s", tt.addr, tt.n, tt.at, got, tt.want)
			}
		})
	}

	t.Run("written coil sticks", func(t *testing.T) {
		if _, err := c.WriteSingleCoil(5, 0xFF00); err != nil {
			t.Fatal(err)
		}
		if got := read(c.ReadCoils, 0, 8); got != "20" {
			t.Errorf("coils after writing 5 = %s, want 20", got)
		}
	})
	t.Run("second unit on the same address", func(t *testing.T) {
		c2, _ := client(t, addr, 2, 2*time.Second)
		if got := read(c2.ReadHoldingRegisters, 0, 1); got != "0007" {
			t.Errorf("unit 2 = %s, want 0007", got)
		}
	})
	t.Run("unknown unit", func(t *testing.T) {
		c9, _ := client(t, addr, 9, 2*time.Second)
		if _, err := c9.ReadHoldingRegisters(0, 1); err == nil || !strings.Contains(err.Error(), "exception '11'") {
			t.Errorf("unit 9: err = %v, want exception 11 (gateway target failed to respond)", err)
		}
	})
}

func TestModbusCommLoss(t *testing.T) {
	p, addr, clk := modbusPlant(t, "testdata/modbus.toml")

	c1, _ := client(t, addr, 1, 2*time.Second)
	c2, h2 := client(t, addr, 2, 300*time.Millisecond)
	answers := func(c modbus.Client) bool {
		_, err := c.ReadHoldingRegisters(0, 1)
		return err == nil
	}
	if !answers(c2) {
		t.Fatal("unit 2 does not answer before the comm loss")
	}

	if err := p.CommLoss("B", true); err != nil {
		t.Fatal(err)
	}
	if answers(c2) {
		t.Error("unit 2 answers during a commanded comm loss")
	}
	if !answers(c1) {
		t.Error("unit 1 stopped answering during unit 2's comm loss")
	}
	if err := p.CommLoss("B", false); err != nil {
		t.Fatal(err)
	}
	h2.Close() // a master reconnects after a timeout (goburrow #64)
	if !answers(c2) {
		t.Error("unit 2 does not answer after the comm loss ended")
	}

	// The configured window: 100s..110s.
	clk.Set(t0.Add(105 * time.Second))
	if answers(c2) {
		t.Error("unit 2 answers inside its configured comm-loss window")
	}
	clk.Set(t0.Add(110 * time.Second))
	h2.Close()
	if !answers(c2) {
		t.Error("unit 2 does not answer after its configured window")
	}

	if err := p.CommLoss("NOPE", true); err == nil {
		t.Error("CommLoss of an unknown device succeeded")
	}
}

func TestModbusAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := New(loadConfig(t, "testdata/modbus.toml", l.Addr().(*net.TCPAddr).Port), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a used port: err = %v, want address already in use", err)
	}
}

func configsParse(name, s string) (*configs.Config, error) { return configs.Parse(name, []byte(s)) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// runForBench runs p until the returned stop is called.
func runForBench(b *testing.B, p *Plant) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-p.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	return func() { cancel(); <-done }
}

// TestModbusLinkageOutputs: a written coil is followed by its feedback
// input after the delay, a stuck feedback never follows, and a device
// that refuses writes answers exception 01 and keeps its coils.
func TestModbusLinkageOutputs(t *testing.T) {
	p, addr, clk := modbusPlant(t, "testdata/linkage.toml")
	c, _ := client(t, addr, 1, 2*time.Second)
	inputs := func() string {
		t.Helper()
		b, err := c.ReadDiscreteInputs(0, 2)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	if got := inputs(); got != "00" {
		t.Fatalf("feedback before any write = %s, want 00", got)
	}
	clk.Set(t0.Add(10 * time.Second))
	if _, err := c.WriteMultipleCoils(10, 2, []byte{0x03}); err != nil {
		t.Fatal(err)
	}
	if on, err := p.Coil("PLC-1", 10); err != nil || !on {
		t.Errorf("Coil(PLC-1, 10) = %v, %v after the write, want true", on, err)
	}
	for _, tt := range []struct {
		name string
		at   time.Duration
		want string
	}{
		{"just written: the fan has not started yet", 10 * time.Second, "00"},
		{"still within the delay", 11900 * time.Millisecond, "00"},
		{"the delay elapsed: FAN-1 runs, the stuck FAN-2 does not", 12 * time.Second, "01"},
		{"much later: FAN-2 still stuck", time.Hour, "01"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(t0.Add(tt.at))
			if got := inputs(); got != tt.want {
				t.Errorf("feedback at %v = %s, want %s", tt.at, got, tt.want)
			}
		})
	}
	t.Run("stop follows after the delay too", func(t *testing.T) {
		clk.Set(t0.Add(2 * time.Hour))
		if err := p.SetCoil("PLC-1", 10, false); err != nil {
			t.Fatal(err)
		}
		if got := inputs(); got != "01" {
			t.Errorf("feedback just after the stop = %s, want 01", got)
		}
		clk.Set(t0.Add(2*time.Hour + 2*time.Second))
		if got := inputs(); got != "00" {
			t.Errorf("feedback 2 s after the stop = %s, want 00", got)
		}
	})
	t.Run("a device that refuses writes", func(t *testing.T) {
		c2, _ := client(t, addr, 2, 2*time.Second)
		if _, err := c2.WriteSingleCoil(10, 0xFF00); err == nil || !strings.Contains(err.Error(), "exception '1'") {
			t.Errorf("coil write: err = %v, want exception 1 (illegal function)", err)
		}
		if _, err := c2.WriteSingleRegister(3, 7); err == nil || !strings.Contains(err.Error(), "exception '1'") {
			t.Errorf("register write: err = %v, want exception 1", err)
		}
		if on, _ := p.Coil("PLC-2", 10); on {
			t.Error("a refused write changed the coil")
		}
		if err := p.RefuseWrites("PLC-2", false); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.WriteSingleCoil(10, 0xFF00); err != nil {
			t.Errorf("after RefuseWrites(false): %v", err)
		}
	})
}
