package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"

	"hazardgw/alarms"
	"hazardgw/configs"
	"hazardgw/console"
	"hazardgw/drivers/modbus"
)

// reloader applies SPEC §12 on SIGHUP and POST /api/reload: the config
// file is read and checked exactly as `check` does; a file that check would
// refuse changes nothing. A valid file is applied in pipeline order:
//
//  1. the alarm engine (a command into its goroutine, alarms.Engine.Reload):
//     alarms that still exist keep their state, seq continues, changed
//     limits apply from the next sample, removed alarms end with a last
//     event "removed by reload";
//  2. the Modbus driver (modbus.Driver.Reload): buses whose devices did not
//     change keep polling without a gap, changed ones restart;
//  3. the console (console.Server.Reload): the point list, and a fresh
//     snapshot to every connected websocket client.
//
// What cannot change without a restart (restartOnly: every section but
// devices, escalation, votes and deviations; the acquisition of MQTT
// devices; simulated behaviour) refuses the whole file with one error per
// section, and the running config stays: a file is applied whole or not
// at all (docs/INSTALL.md, "Changing the config").
type reloader struct {
	file   string
	log    *slog.Logger
	engine *alarms.Engine
	bus    *modbus.Driver
	con    *console.Server

	mu      sync.Mutex // one reload at a time
	running runningConfig
}

// runningConfig is what restartOnly compares of the running config: its
// sections without the devices, the acquisition of its MQTT devices and
// its simulated behaviour. The reloader keeps only this, not the whole
// config: the point list of a large site is tens of MiB (docs/PERFORMANCE.md).
type runningConfig struct {
	settings *configs.Config // without devices
	devices  int
	mqtt     map[string]configs.Device
	sim      map[string]simPoint
}

func runningOf(cfg *configs.Config) runningConfig {
	return runningConfig{settings: cfg.WithoutDevices(), devices: len(cfg.Devices),
		mqtt: mqttAcquisition(cfg), sim: simBehaviour(cfg)}
}

// reload applies the file and returns every error of a refused file (nil:
// applied). Each error is logged too.
func (r *reloader) reload(ctx context.Context) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := r.apply(ctx)
	if len(errs) > 0 {
		for _, e := range errs {
			r.log.Error("reload: " + e)
		}
		r.log.Error("reload refused: the running config stays", "file", r.file, "errors", len(errs))
		return errs
	}
	r.log.Info("config reloaded", "file", r.file, "devices", r.running.devices)
	return nil
}

func (r *reloader) apply(ctx context.Context) []string {
	cfg, err := configs.Load(r.file)
	if err != nil {
		var b strings.Builder
		printConfigErrors(&b, r.file, err)
		return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	}
	if err := preflight(cfg); err != nil {
		return strings.Split(err.Error(), "\n")
	}
	if errs := restartOnly(r.running, cfg); len(errs) > 0 {
		return errs
	}
	if err := r.engine.Reload(ctx, cfg); err != nil {
		return []string{err.Error()}
	}
	// preflight built the driver from cfg: this cannot refuse it.
	if err := r.bus.Reload(cfg); err != nil {
		r.log.Error("reload: modbus", "err", err)
	}
	if err := r.con.Reload(ctx, cfg); err != nil {
		r.log.Warn("reload: console", "err", err)
	}
	r.running = runningOf(cfg)
	return nil
}

// reloadable are the top-level keys a reload applies.
var reloadable = map[string]bool{"device": true, "escalation": true, "vote": true, "deviation": true}

// restartOnly lists what differs between the running config and cur but
// takes effect only at a restart, one message per section or device.
func restartOnly(old runningConfig, cur *configs.Config) []string {
	var out []string
	restart := func(what string) {
		out = append(out, fmt.Sprintf("%s: %s changed: takes effect only at a restart; nothing was reloaded", cur.File, what))
	}
	ov, nv := reflect.ValueOf(*old.settings), reflect.ValueOf(*cur)
	t := ov.Type()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if key == "" || key == "-" || reloadable[key] {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			restart("[" + key + "]")
		}
	}
	// MQTT subscriptions, the embedded broker's topic rights and the
	// simulated plant are built once at start.
	if !reflect.DeepEqual(old.mqtt, mqttAcquisition(cur)) {
		restart("an mqtt device (broker, topic, path or points)")
	}
	// A removed simulated point is harmless (the plant keeps serving it);
	// a new or changed one is not served until a restart.
	for id, sp := range simBehaviour(cur) {
		if o, ok := old.sim[id]; !ok || !reflect.DeepEqual(o, sp) {
			restart("simulated behaviour of " + id + " ([device.point.sim])")
			break
		}
	}
	return out
}

// mqttAcquisition is what the MQTT side reads from each mqtt device: the
// device without its points' alarm settings.
func mqttAcquisition(cfg *configs.Config) map[string]configs.Device {
	out := map[string]configs.Device{}
	for _, d := range cfg.Devices {
		if d.Driver != "mqtt" {
			continue
		}
		pts := make([]configs.Point, len(d.Points))
		for i, p := range d.Points {
			pts[i] = configs.Point{ID: p.ID, Topic: p.Topic, Path: p.Path, TimePath: p.TimePath,
				Scale: p.Scale, Offset: p.Offset, Range: p.Range, Type: p.Type, Sim: p.Sim}
		}
		d.Points = pts
		out[d.ID] = d
	}
	return out
}

// simPoint is what the simulated plant serves for one point.
type simPoint struct {
	Device, Address, Register, Type string
	Addr, Bit                       *int
	Scale                           *float64
	Offset                          float64
	Sim                             configs.SimPoint
}

// simBehaviour is each simulated point's behaviour and where the plant
// serves it (compared with reflect.DeepEqual: pointers by value).
func simBehaviour(cfg *configs.Config) map[string]simPoint {
	out := map[string]simPoint{}
	if cfg.Simulator == nil || !cfg.Simulator.Enabled {
		return out
	}
	for _, d := range cfg.Devices {
		for _, p := range d.Points {
			if p.Sim != nil {
				out[p.ID] = simPoint{Device: d.ID, Address: d.Address, Register: p.Register, Type: p.Type,
					Addr: p.Address, Bit: p.Bit, Scale: p.Scale, Offset: p.Offset, Sim: *p.Sim}
			}
		}
	}
	return out
}
