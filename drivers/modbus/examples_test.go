package modbus

import (
	"path/filepath"
	"testing"

	"hazardgw/configs"
)

// TestExampleConfigs: every example config that configs accepts builds a
// modbus driver (the two validations agree).
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.toml")
	if len(files) == 0 {
		t.Fatal("no example configs found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := configs.Load(f)
			if err != nil {
				t.Logf("configs rejects it, not ours to check: %v", err)
				return
			}
			drv, err := New(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d modbus devices", len(drv.Health()))
		})
	}
}
