package modbus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"hazardgw/drivers"
)

// Reading is one point read once by Probe, for commissioning: the sample as
// Run would deliver it and the raw registers (or bit) it was decoded from.
type Reading struct {
	Device string
	Sample drivers.Sample
	// Raw is the point's registers as they arrived ("0x4148 0x0000"), or
	// its bit ("1"); empty when the read failed.
	Raw string
	// Request is the read that carried the point ("read holding 0+10").
	Request string
	// Err is why the read failed (the sample is then bad/comm).
	Err error
}

// ErrUnknownDevice is returned by Probe for a device id that is not a
// Modbus device of the config.
var ErrUnknownDevice = errors.New("no such modbus device")

// Probe reads every point of the Modbus devices once (only device when it
// is not empty), request by request as Run plans them, and closes the
// connections. It is `gateway probe`: call it instead of Run, never beside
// it. A device that does not answer costs one timeout; its remaining
// requests are reported with the same error. ctx ends the probe between
// requests.
func (drv *Driver) Probe(ctx context.Context, device string) ([]Reading, error) {
	if device != "" && drv.byDev[device] == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDevice, device)
	}
	var out []Reading
	for _, b := range drv.buses {
		for _, d := range b.devices {
			if device != "" && d.id != device {
				continue
			}
			var skip error
			sh := d.sh
			for ri := range sh.reqs {
				r := &sh.reqs[ri]
				if err := ctx.Err(); err != nil {
					return out, err
				}
				var data []byte
				var err error
				var kind result
				if skip == nil {
					data, kind, err = b.read(d, r)
					if err != nil {
						err = fmt.Errorf("modbus %s unit %d: %s: %w", d.id, d.unit, r, err)
						if kind == resTimeout || kind == resConn {
							skip = err
						}
					}
				} else {
					err = skip
				}
				now := b.now()
				for i := r.from; i < r.to; i++ {
					p := d.spec(int(i))
					rd := Reading{Device: d.id, Request: r.String()}
					if err != nil {
						rd.Err = err
						rd.Sample = drivers.Sample{Point: p.id, Value: 0, Quality: drivers.Bad, Cause: drivers.CauseComm, Time: now}
						out = append(out, rd)
						continue
					}
					var raw float64
					if r.kind.bits() {
						k := int(p.addr) - int(r.addr)
						bit := data[k/8] >> (k % 8) & 1
						raw = float64(bit)
						rd.Raw = fmt.Sprint(bit)
					} else {
						raw = p.raw(data, int(r.addr))
						off := 2 * (int(p.addr) - int(r.addr))
						regs := data[off : off+2*p.typ.words()]
						words := make([]string, 0, len(regs)/2)
						for k := 0; k < len(regs); k += 2 {
							words = append(words, fmt.Sprintf("0x%02X%02X", regs[k], regs[k+1]))
						}
						rd.Raw = strings.Join(words, " ")
					}
					rd.Sample = p.sample(raw, now)
					out = append(out, rd)
				}
			}
		}
		_ = b.tr.Close()
	}
	return out, nil
}
