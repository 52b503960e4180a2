package console

import (
	"testing"
	"time"
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
