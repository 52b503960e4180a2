package sim

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	"hazardgw/configs"
)

// ensureSocat installs socat when it is missing, or fails loudly.
func ensureSocat(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("socat"); err == nil {
		return
	}
	if out, err := exec.Command("sh", "-c", "apt-get install -y socat || (apt-get update && apt-get install -y socat)").CombinedOutput(); err != nil {
		t.Fatalf("socat is missing and apt-get could not install it: %v\n%s", err, out)
	}
}

func rtuClient(t *testing.T, path string, unit byte) modbus.Client {
	t.Helper()
	h := modbus.NewRTUClientHandler(path)
	h.BaudRate, h.DataBits, h.Parity, h.StopBits = 19200, 8, "E", 1
	h.SlaveId = unit
	h.Timeout = 500 * time.Millisecond
	t.Cleanup(func() { h.Close() })
	return modbus.NewClient(h)
}

func TestRTUOverPty(t *testing.T) {
	ensureSocat(t)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/rtu.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse("rtu.toml", []byte(strings.ReplaceAll(string(data), "DIR", dir)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	p := startPlant(t, cfg, Options{Now: clk.Now})
	path := filepath.Join(dir, "ttyGC")
	c1, c2 := rtuClient(t, path, 1), rtuClient(t, path, 2)

	read := func(c modbus.Client, fn string, a, n uint16) (string, error) {
		var b []byte
		var err error
		switch fn {
		case "holding":
			b, err = c.ReadHoldingRegisters(a, n)
		case "input":
			b, err = c.ReadInputRegisters(a, n)
		case "discrete":
			b, err = c.ReadDiscreteInputs(a, n)
		case "coils":
			b, err = c.ReadCoils(a, n)
		}
		return hex.EncodeToString(b), err
	}
	tests := []struct {
		name string
		c    modbus.Client
		at   string
		fn   string
		a, n uint16
		want string
	}{
		{"float32 CDAB", c1, "0s", "holding", 0, 2, "00003fc0"},
		{"fire off", c1, "9s", "discrete", 0, 8, "00"},
		{"fire on", c1, "10s", "discrete", 0, 8, "10"},
		{"second unit", c2, "0s", "input", 3, 1, "0141"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(t0.Add(ms(tt.at)))
			got, err := read(tt.c, tt.fn, tt.a, tt.n)
			if err != nil || got != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	t.Run("write multiple coils", func(t *testing.T) {
		if _, err := c1.WriteMultipleCoils(0, 3, []byte{0x05}); err != nil {
			t.Fatal(err)
		}
		if got, err := read(c1, "coils", 0, 8); err != nil || got != "05" {
			t.Errorf("coils = %s, %v; want 05", got, err)
		}
	})
	t.Run("comm loss is silence", func(t *testing.T) {
		if err := p.CommLoss("R2", true); err != nil {
			t.Fatal(err)
		}
		if _, err := read(c2, "input", 3, 1); err == nil {
			t.Error("unit 2 answers during its comm loss")
		}
		if got, err := read(c1, "holding", 0, 2); err != nil || got != "00003fc0" {
			t.Errorf("unit 1 during unit 2's comm loss: %s, %v", got, err)
		}
		p.CommLoss("R2", false)
		if got, err := read(c2, "input", 3, 1); err != nil || got != "0141" {
			t.Errorf("unit 2 after its comm loss: %s, %v", got, err)
		}
	})
	t.Run("unknown unit is silence", func(t *testing.T) {
		if _, err := read(rtuClient(t, path, 9), "holding", 0, 1); err == nil {
			t.Error("unit 9 answered")
		}
	})
}

func TestRTURefusesRealDevice(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "ttyS0")
	if err := os.WriteFile(real, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := &rtuBus{path: real}
	if err := b.start(); err == nil || !strings.Contains(err.Error(), "not a symlink") {
		t.Errorf("start over a real file: err = %v", err)
	}
}
