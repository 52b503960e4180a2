package console

import (
	"bytes"
	"math"
	"testing"
	"time"

	"hazardgw/drivers"
)

// FuzzCommand feeds arbitrary client frames through the parser and the
// validation: never a panic, and a frame accepted for the engine always
// names its target and respects max_shelve.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"ack","ref":1,"alarm":"NH3-101:hihi","comment":"x"}`,
		`{"type":"shelve","ref":"a","alarm":"A:hi","for":"10m","reason":"r"}`,
		`{"type":"oos","point":"P","reason":"cal"}`, `{"type":"resume","seq":5}`,
		`{"type":`, `[]`, `null`, `{"type":"shelve","for":"-1s"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCommand(b)
		if err != nil {
			return
		}
		ec, err := toEngine(c, identity{role: Admin, user: "root"}, time.Hour)
		if err != nil {
			return
		}
		if ec.Alarm == "" && ec.Point == "" {
			t.Errorf("accepted %s without a target", b)
		}
		if ec.For > time.Hour || ec.Op == "shelve" && ec.For <= 0 {
			t.Errorf("accepted shelve for %s", ec.For)
		}
	})
}

// FuzzFramer: a samples frame built by the framer is byte for byte
// json.Marshal's of the samples' drivers.SampleJSON, whatever the point
// id, value, quality, cause and time, for frames of one to three samples
// (the second at another time).
func FuzzFramer(f *testing.F) {
	f.Add("NH3-101", 12.5, uint8(0), uint8(0), int64(1764316801123456789), int64(0))
	f.Add("a<b>&\"\\\x00é\xff", math.Inf(-1), uint8(7), uint8(9), int64(-62135596800000000), int64(-1))
	f.Add("P", 1e-7, uint8(2), uint8(5), int64(0), int64(5))
	f.Add("P", -1e21, uint8(1), uint8(1), int64(1), int64(-3))
	f.Fuzz(func(t *testing.T, point string, v float64, q, c uint8, ns int64, shift int64) {
		s := drivers.Sample{Point: drivers.PointID(point), Value: v, Quality: drivers.Quality(q), Cause: drivers.Cause(c),
			Time: time.Unix(0, ns).In(time.FixedZone("Z", int(shift%86400)))}
		// Then a sample of another time (the framer reuses a time's text).
		ss := []drivers.Sample{s, s, s}
		ss[1].Time = s.Time.Add(time.Duration(shift) * time.Millisecond)
		var fr framer
		for n := 1; n <= len(ss); n++ {
			js := make([]drivers.SampleJSON, n)
			for k := range n {
				fr.add(&ss[k])
				js[k] = ss[k].JSON()
			}
			if got, want := fr.frame(), mustJSON(samplesFrame{Type: "samples", Samples: js}); !bytes.Equal(got, want) {
				t.Fatalf("framer wrote\n%s\nwant\n%s", got, want)
			}
		}
		if fr.frame() != nil {
			t.Fatal("an empty framer built a frame")
		}
	})
}
