package outputs_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers/mqtt/mqtttest"
	"hazardgw/gateway/outputs"
)

// TestCursorFileDamage: the cursor file damaged between two runs (a byte
// flipped in either slot, both slots garbage, cut short) never makes a
// target skip an event: after the restart the uplink publishes every event
// after what it had acknowledged (a flipped slot falls back to the other;
// a file beyond repair resends from the start of the journal, with an
// ERROR line). A notify target with a file beyond repair starts at the
// journal's seq (events from now on), with an ERROR line. The old text
// cursor is taken over.
func TestCursorFileDamage(t *testing.T) {
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b = bytes.Clone(b); b[at] ^= 0x01; return b }
	}
	for _, tc := range []struct {
		name    string
		damage  func([]byte) []byte
		notify  bool
		from    uint64 // the first seq the second run publishes
		errLine bool
	}{
		// from 0: any start up to 6, then every seq (a flipped slot
		// falls back to the other, older one).
		{"flip in slot 0 generation", flip(0), false, 0, false},
		{"flip in slot 0 value", flip(9), false, 0, false},
		{"flip in slot 1 value", flip(32 + 9), false, 0, false},
		{"flip in slot 1 crc", flip(32 + 17), false, 0, false},
		{"both slots garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0xA5}, len(b)) }, false, 1, true},
		{"cut short", func(b []byte) []byte { return b[:20] }, false, 1, true},
		{"old text cursor", func([]byte) []byte { return []byte("5\n") }, false, 6, false},
		{"notify, both slots garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0xA5}, len(b)) }, true, 9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mqtttest.StartMochi(t)
			topic := "hz/S1/alarms"
			cfg := config(t, b.URL)
			file := "uplink-plant.cursor"
			target := "uplink"
			if tc.notify {
				topic, file, target = "hz/notify/ops", "notify-ops.cursor", "ops"
				cfg.Notify = []configs.Notify{{Name: "ops", Kind: "mqtt", Broker: "plant", Topic: topic, QoS: 1}}
			} else {
				cfg.Uplink = &configs.Uplink{Broker: "plant", Prefix: "hz/S1"}
			}
			rx := b.Subscribe(t, topic, 1)
			j := &seqJournal{} // Seq 0 when run 1 starts
			// Run 1: events 1..5 published and acknowledged.
			reg := prometheus.NewRegistry()
			g := startGW(t, cfg, outputs.Options{Events: j, Registerer: reg})
			g.waitUp(t)
			for range 5 {
				ev := j.add("ops")
				for _, o := range g.outs.Outputs() {
					o.Event(ev)
				}
			}
			mqtttest.WaitFor(t, "cursor at 5", func() bool {
				return mqtttest.Gathered(t, reg, "hazardgw_mqtt_event_cursor", "target", target) == 5
			})
			g.cancel()
			rx.WaitN(t, 5, 10*time.Second)
			path := filepath.Join(cfg.Store.Dir, "mqtt", file)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(raw), 0o644); err != nil {
				t.Fatal(err)
			}
			// Run 2 over the damaged cursor, after 3 more events (6..8);
			// the journal's seq is 8 then, so a notify target falling back
			// to it publishes from 9.
			for range 3 {
				j.add("ops")
			}
			var logged bytes.Buffer // read after g2 stopped (slog serializes writes)
			sj := j
			g2 := startGW(t, cfg, outputs.Options{Events: sj, Log: slog.New(slog.NewTextHandler(&logged, nil))})
			g2.waitUp(t)
			ev := sj.add("ops") // 9
			for _, o := range g2.outs.Outputs() {
				o.Event(ev)
			}
			msgs := rx.Wait(t, 10*time.Second, func(m []mqtttest.Message) bool {
				return len(m) > 0 && seqOf(t, m[len(m)-1]) == 9
			})
			g2.cancel()
			var second []uint64
			for _, m := range msgs[5:] {
				second = append(second, seqOf(t, m))
			}
			want := tc.from
			if want == 0 {
				// A slot fallback: the other slot's older cursor, so from
				// anywhere up to 6 (repeats, never a gap).
				want = second[0]
				if want > 6 {
					t.Fatalf("second run published %v: skipped events after the acknowledged 5", second)
				}
			}
			for i, s := range second {
				if s != want+uint64(i) {
					t.Fatalf("second run published %v, want every seq from %d to 9", second, want)
				}
			}
			if got := strings.Contains(logged.String(), "level=ERROR"); got != tc.errLine {
				t.Fatalf("ERROR line %v, want %v: %s", got, tc.errLine, logged.String())
			}
		})
	}
}

func seqOf(t *testing.T, m mqtttest.Message) uint64 {
	t.Helper()
	var ev alarms.Event
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		t.Fatalf("payload %q: %v", m.Payload, err)
	}
	return ev.Seq
}
