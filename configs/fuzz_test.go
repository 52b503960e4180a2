package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and
// it returns either a config or configs.Errors whose every line is
// positioned inside the input.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.toml")
	examples, _ := filepath.Glob("*.toml")
	for _, name := range append(files, examples...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a = [1, {b = 2}]\n[x.y]\n[[x.y.z]]\n"))
	f.Add([]byte("[[device]]\n[[device.point]]\n[device.point.sim]\nkind = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("fuzz.toml", data, lookupTestEnv)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("want configs.Errors, got %T %v", err, err)
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines || e.Col < 1 {
				t.Fatalf("error outside the input (%d lines): %v", lines, e)
			}
		}
	})
}
