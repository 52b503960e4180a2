package influxtest

import (
	"strings"
	"testing"
)

func TestStartStopStart(t *testing.T) {
	s := Start(t)
	s.Write(t, "m,point=A value=1 1000000000\nm,point=A value=2 2000000000\nm,point=B value=3 1000000000\n")
	if n := s.Count(t, "m", map[string]string{"point": "A"}); n != 2 {
		t.Fatalf("count A = %d, want 2", n)
	}
	url := s.URL
	s.Stop()
	if s.Running() {
		t.Fatal("still running after Stop")
	}
	s.Start()
	if s.URL != url {
		t.Fatalf("URL changed: %s -> %s", url, s.URL)
	}
	if n := s.Count(t, "m", nil); n != 3 {
		t.Fatalf("count after restart = %d, want 3", n)
	}
	csv := s.Flux(t, `from(bucket: "db/autogen") |> range(start: 0) |> filter(fn: (r) => r._measurement == "m")`)
	if !strings.Contains(csv, "_value") {
		t.Fatalf("flux answer without _value: %s", csv)
	}
}
