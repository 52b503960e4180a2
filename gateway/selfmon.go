package main

import (
	"context"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// The gateway watches itself through a device of its own
// (configs.SelfDevice, added by configs.Load before validation), so that its
// own failures are alarms like any other: shown on the console, journaled,
// escalated, sent to the platform. Its points are discrete: 1 when the
// condition holds.

// selfMonitor feeds the self-monitoring points every configs.SelfEvery until ctx
// ends. Each check reports whether its condition holds now.
func selfMonitor(ctx context.Context, sink drivers.Sink, checks map[drivers.PointID]func() bool) error {
	t := time.NewTicker(configs.SelfEvery)
	defer t.Stop()
	for {
		now := time.Now()
		batch := make([]drivers.Sample, 0, len(checks))
		for id, holds := range checks {
			v := 0.0
			if holds() {
				v = 1
			}
			batch = append(batch, drivers.Sample{Point: id, Value: v, Quality: drivers.Good, Time: now})
		}
		sink(batch)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
