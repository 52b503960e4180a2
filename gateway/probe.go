package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"hazardgw/configs"
	"hazardgw/drivers"
	"hazardgw/drivers/modbus"
	"hazardgw/drivers/mqtt"
)

// probe is `gateway probe` (SPEC §2): every point of the configured devices
// (or of one) read once, with no alarms, store or console; one line per
// point with the raw registers or payload beside the decoded value, for
// commissioning against real devices. Modbus devices are read request by
// request; mqtt points wait up to wait for their first message. It returns
// 0 when every device answered (a Modbus exception is an answer), else 1.
func probe(ctx context.Context, cfg *configs.Config, device string, wait time.Duration, stdout, stderr io.Writer) int {
	units := map[drivers.PointID]string{}
	kinds := map[string]string{}
	for _, d := range cfg.Devices {
		kinds[d.ID] = d.Driver
		for _, p := range d.Points {
			units[drivers.PointID(p.ID)] = p.Unit
		}
	}
	if device != "" && kinds[device] != "modbus" && kinds[device] != "mqtt" {
		fmt.Fprintf(stderr, "gateway probe: no modbus or mqtt device %q in %s\n", device, cfg.File)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tPOINT\tVALUE\tUNIT\tQUALITY\tCAUSE\tRAW")
	answered := map[string]bool{}
	asked := map[string]bool{}
	line := func(dev string, s drivers.Sample, raw string) {
		cause := ""
		if s.Quality != drivers.Good {
			cause = s.Cause.String()
		}
		val := "-"
		if s.Cause != drivers.CauseComm {
			val = strconv.FormatFloat(s.Value, 'g', 6, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dev, s.Point, val, units[s.Point], s.Quality, cause, raw)
	}

	if device == "" || kinds[device] == "modbus" {
		drv, err := modbus.New(cfg, modbus.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "gateway probe: %v\n", err)
			return 1
		}
		rs, err := drv.Probe(ctx, device)
		if err != nil && !errors.Is(err, modbus.ErrUnknownDevice) {
			fmt.Fprintf(stderr, "gateway probe: %v\n", err)
		}
		for _, r := range rs {
			asked[r.Device] = true
			var ex *modbus.ExceptionError
			raw := r.Raw
			if r.Err != nil {
				raw = r.Err.Error()
			}
			if r.Err == nil || errors.As(r.Err, &ex) {
				answered[r.Device] = true
			}
			line(r.Device, r.Sample, raw)
		}
	}

	if device == "" || kinds[device] == "mqtt" {
		mq, err := mqtt.New(cfg, mqtt.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "gateway probe: %v\n", err)
			return 1
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mq.Run(runCtx) }()
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		rs := mq.Probe(waitCtx, device)
		cancel()
		stop()
		if err := <-done; err != nil {
			fmt.Fprintf(stderr, "gateway probe: %v\n", err)
		}
		for _, r := range rs {
			asked[r.Device] = true
			raw := r.Topic + " " + r.Payload
			if r.Reason != "" {
				raw += " (" + r.Reason + ")"
			}
			if r.Sample.Cause != drivers.CauseComm {
				answered[r.Device] = true
			}
			line(r.Device, r.Sample, raw)
		}
	}
	_ = tw.Flush()
	code := 0
	for d := range asked {
		if !answered[d] {
			fmt.Fprintf(stderr, "gateway probe: device %s did not answer\n", d)
			code = 1
		}
	}
	return code
}
