package modbus

import (
	"log/slog"
	"testing"
	"time"
)

// TestPick: which device the bus polls next, with times as data.
func TestPick(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type d struct {
		name string
		due  time.Time
		down bool
	}
	cases := []struct {
		name string
		now  time.Time
		devs []d
		want string
		wait time.Duration
	}{
		{"earliest due up device", ms(100), []d{{"A", ms(90), false}, {"B", ms(50), false}}, "B", 0},
		{"nothing due: wait", ms(0), []d{{"A", ms(90), false}, {"B", ms(50), false}}, "", 50 * time.Millisecond},
		{"up before down", ms(100), []d{{"DEAD", ms(10), true}, {"A", ms(100), false}}, "A", 0},
		{"down probed when a timeout fits", ms(100), []d{{"DEAD", ms(10), true}, {"A", ms(300), false}}, "DEAD", 0},
		{"down waits when it would delay", ms(100), []d{{"DEAD", ms(10), true}, {"A", ms(200), false}}, "", 100 * time.Millisecond},
		{"down probed after max demote", ms(2100), []d{{"DEAD", ms(100), true}, {"A", ms(2150), false}}, "DEAD", 0},
		{"only down devices", ms(100), []d{{"DEAD", ms(10), true}}, "DEAD", 0},
		{"down not yet due", ms(100), []d{{"DEAD", ms(130), true}, {"A", ms(500), false}}, "", 30 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var devs []*device
			for _, x := range tc.devs {
				dv := &device{id: x.name, due: x.due, commAfter: 1, timeout: 150 * time.Millisecond}
				if x.down {
					dv.fails = 1
				}
				devs = append(devs, dv)
			}
			got, wait := pick(devs, tc.now, 2*time.Second)
			name := ""
			if got != nil {
				name = got.id
			}
			if name != tc.want || wait != tc.wait {
				t.Errorf("pick = %q, %v; want %q, %v", name, wait, tc.want, tc.wait)
			}
		})
	}
}

// TestDemotion: after comm_after failed polls a device is polled less and
// less often, up to the cap; one good poll restores its interval.
func TestDemotion(t *testing.T) {
	b := &bus{log: slog.New(slog.DiscardHandler)}
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	d := &device{id: "D", interval: time.Second, commAfter: 3, due: now}
	d.demote.Min, d.demote.Max = 2*time.Second, 30*time.Second
	var gaps []time.Duration
	for i := 0; i < 10; i++ {
		now = d.due
		b.schedule(d, true, nil, now)
		gaps = append(gaps, d.due.Sub(now))
	}
	// Polls 1 and 2 fail at the interval; from the 3rd on the device is down.
	if gaps[0] != time.Second || gaps[1] != time.Second {
		t.Errorf("before demotion: %v", gaps[:2])
	}
	if d.health.State != "down" {
		t.Errorf("state %q", d.health.State)
	}
	for i, g := range gaps[2:] {
		if g < time.Second || g > 30*time.Second {
			t.Errorf("demoted gap %d: %v", i, g)
		}
	}
	if gaps[9] < 15*time.Second {
		t.Errorf("demotion does not grow to the cap: %v", gaps)
	}
	now = d.due
	b.schedule(d, false, nil, now)
	if d.due.Sub(now) != time.Second || d.health.State != "up" {
		t.Errorf("after a good poll: next in %v, state %s", d.due.Sub(now), d.health.State)
	}
}
