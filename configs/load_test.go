package configs

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bad.txt from the current output")

// testEnv is the environment the golden files see (never the process's).
var testEnv = map[string]string{
	"ZHANG_TOKEN":  "zhang-secret",
	"LI_TOKEN":     "li-secret",
	"INFLUX_TOKEN": "influx-secret",
	"MQTT_PASS":    "mqtt-secret",
}

func lookupTestEnv(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

// TestGolden loads every testdata/*.good.toml (must load), every
// testdata/*.bad.toml (must fail with exactly the lines of its .bad.txt) and
// every testdata/*.warn.toml (must load with exactly the warnings of its
// .warn.txt).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	var good, bad int
	for _, f := range files {
		if strings.HasSuffix(f, ".good.toml") {
			good++
		} else if strings.HasSuffix(f, ".bad.toml") {
			bad++
		}
	}
	if good == 0 || bad == 0 {
		t.Errorf("%d good and %d bad files: want both", good, bad)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := parse(name, data, lookupTestEnv)
			switch {
			case strings.HasSuffix(name, ".good.toml"):
				if err != nil {
					t.Fatalf("want a valid config, got:\n%v", err)
				}
				if c.File != name {
					t.Errorf("File = %q, want %q", c.File, name)
				}
			case strings.HasSuffix(name, ".bad.toml"):
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("want configs.Errors, got %T %v", err, err)
				}
				got := err.Error() + "\n"
				compareGolden(t, f, got)
			case strings.HasSuffix(name, ".warn.toml"):
				if err != nil {
					t.Fatalf("want a valid config, got:\n%v", err)
				}
				got := c.Warnings.Error() + "\n"
				compareGolden(t, f, got)
			default:
				t.Fatalf("testdata file %s must end in .good.toml, .bad.toml or .warn.toml", name)
			}
		})
	}
}

// TestExamples loads every config shipped in this folder, as `gateway check`
// would, with an empty environment.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("*.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ammonia-cold-store.toml", "tank-farm.toml", "fire-alarms.toml"} {
		found := false
		for _, f := range files {
			found = found || f == want
		}
		if !found {
			t.Errorf("example %s is missing", want)
		}
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := parse(f, data, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatalf("example does not load:\n%v", err)
			}
			if len(c.Devices) == 0 {
				t.Errorf("no devices")
			}
		})
	}
}

// compareGolden compares got with the .txt beside the .toml file f (or
// rewrites it with -update).
func compareGolden(t *testing.T, f, got string) {
	t.Helper()
	want := strings.TrimSuffix(f, ".toml") + ".txt"
	if *update {
		if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	exp, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update)", err)
	}
	if got != string(exp) {
		t.Errorf("lines differ\n--- got\n%s--- want\n%s", got, exp)
	}
}
