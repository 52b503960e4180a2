package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/drivers/modbus"
	"hazardgw/drivers/mqtt"
	"hazardgw/gateway/outputs"
	"hazardgw/gateway/sim"
)

// check is `gateway check` (SPEC §2): cfg has loaded (every rule of
// configs passed); the components `run` builds before it touches anything
// are built here too and thrown away, so whatever `run` would refuse at
// start, check refuses. Warnings go to stdout; with strict they fail.
func check(cfg *configs.Config, strict bool, stdout, stderr io.Writer) int {
	if err := preflight(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cfg.File, err)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, w.Error())
	}
	fmt.Fprintln(stdout, summary(cfg))
	if strict && len(cfg.Warnings) > 0 {
		fmt.Fprintf(stderr, "%s: %d warnings (-strict)\n", cfg.File, len(cfg.Warnings))
		return 1
	}
	return 0
}

// preflight builds, without I/O on devices, brokers or ports, every
// component run builds from the config (the alarm machine, the Modbus and
// MQTT drivers, the outputs, the simulated plant) and returns every refusal.
// The configs rules should already catch each of them with a position;
// this is the guard that keeps check and run from drifting apart.
func preflight(cfg *configs.Config) error {
	reg := prometheus.NewRegistry()
	var errs []error
	if _, err := alarms.NewMachine(cfg, time.Now()); err != nil {
		errs = append(errs, fmt.Errorf("alarms: %w", err))
	}
	if _, err := modbus.New(cfg, modbus.Options{Registerer: reg}); err != nil {
		errs = append(errs, err)
	}
	mq, err := mqtt.New(cfg, mqtt.Options{Registerer: reg, Wills: outputs.Wills(cfg, time.Now())})
	if err != nil {
		errs = append(errs, err)
	} else if _, err := outputs.New(cfg, mq, outputs.Options{Registerer: reg, Events: noJournal{}}); err != nil {
		errs = append(errs, err)
	}
	if cfg.Simulator != nil && cfg.Simulator.Enabled {
		if _, err := sim.New(cfg, sim.Options{}); err != nil {
			errs = append(errs, fmt.Errorf("simulator: %w", err))
		}
	}
	return errors.Join(errs...)
}

// summary is check's one-line report. The gateway's own device counts:
// it is run like any other.
func summary(cfg *configs.Config) string {
	devices, points, alarms := 0, 0, 0
	for _, d := range cfg.Devices {
		devices++
		for _, p := range d.Points {
			points++
			alarms += len(configs.AlarmConds(d, p))
		}
	}
	s := fmt.Sprintf("%s: ok: site %s, %d devices, %d points, %d alarms",
		cfg.File, cfg.Site.ID, devices, points, alarms)
	if n := len(cfg.Warnings); n > 0 {
		s += fmt.Sprintf(", %d warnings", n)
	}
	return s
}

// noJournal stands for the alarm journal while preflight builds the
// outputs: it is never read (nothing runs).
type noJournal struct{}

func (noJournal) Events(uint64, int) ([]alarms.Event, error) { return nil, nil }
