package main

import (
	"context"
	"fmt"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
)

// The gateway watches itself through a device of its own, so that its own
// failures are alarms like any other: shown on the console, journaled,
// escalated, sent to the platform. Its points are discrete: 1 when the
// condition holds.
const (
	selfDevice  = "_GATEWAY"
	selfOutbox  = "_GW.OUTBOX"  // the outbox refuses samples (only alarm events left, disk bound reached) or the disk refuses writes
	selfJournal = "_GW.JOURNAL" // the alarm journal cannot write: alarms are shown but not kept
	selfEvery   = time.Second
)

// addSelfDevice appends the gateway's own device to cfg (after validation:
// it is not an installer's device and no driver polls it).
func addSelfDevice(cfg *configs.Config) error {
	on := true
	pt := func(id, name string) configs.Point {
		return configs.Point{ID: id, Name: name, AlarmOn: &on, Tier: 1, Priority: "high",
			Stale: configs.Duration(10 * selfEvery)}
	}
	dev := configs.Device{ID: selfDevice, Name: "Gateway self-monitoring", Driver: "internal", Area: "gateway",
		Points: []configs.Point{
			pt(selfOutbox, "Outbox full or disk failing: samples are being lost"),
			pt(selfJournal, "Alarm journal cannot write to disk"),
		}}
	for _, d := range cfg.Devices {
		if d.ID == dev.ID {
			return fmt.Errorf("device id %s is reserved for the gateway itself", d.ID)
		}
		for _, p := range d.Points {
			for _, q := range dev.Points {
				if p.ID == q.ID {
					return fmt.Errorf("point id %s is reserved for the gateway itself", p.ID)
				}
			}
		}
	}
	cfg.Devices = append(cfg.Devices, dev)
	return nil
}

// selfMonitor feeds the self-monitoring points every selfEvery until ctx
// ends. Each check reports whether its condition holds now.
func selfMonitor(ctx context.Context, sink drivers.Sink, checks map[drivers.PointID]func() bool) error {
	t := time.NewTicker(selfEvery)
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
