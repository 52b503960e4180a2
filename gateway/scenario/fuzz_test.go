package scenario

import (
	"os"
	"testing"
)

// FuzzParse feeds scenario files to Parse: it must return a scenario or an
// error, never panic, and a scenario it accepts has expectations.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/leak.toml", "../../configs/scenarios/nh3-leak.scenario.toml", "../../configs/scenarios/head-fault.scenario.toml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[[expect]]\nalarm = \"A:hi\"\nnone = true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.toml", data)
		if err == nil && len(sc.Expect) == 0 {
			t.Fatal("accepted a scenario without expectations")
		}
	})
}
