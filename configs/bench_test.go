package configs

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// bigConfig is a plant of devices x points Modbus points with limits.
func bigConfig(devices, points int) []byte {
	var b strings.Builder
	b.WriteString("[site]\nid = \"BIG-01\"\n")
	for d := range devices {
		fmt.Fprintf(&b, "\n[[device]]\nid = \"GC-%d\"\ndriver = \"modbus\"\naddress = \"127.0.0.1:%d\"\ninterval = \"1s\"\n", d, 1502+d)
		for p := range points {
			fmt.Fprintf(&b, "  [[device.point]]\n  id = \"P-%d-%d\"\n  unit = \"ppm\"\n  register = \"holding\"\n  address = %d\n  type = \"float32\"\n  range = [0.0, 1000.0]\n  hi = 29.0\n  hihi = 57.0\n  deadband = 5.0\n  on_delay = \"2s\"\n", d, p, 2*p)
		}
	}
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	example, err := os.ReadFile("ammonia-cold-store.toml")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"ammonia-cold-store", example},
		{"100dev-x-100pt", bigConfig(100, 100)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parse("bench.toml", bc.data, lookupTestEnv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
